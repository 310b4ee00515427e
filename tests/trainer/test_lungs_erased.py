"""The lungs-erased figure: what a classifier still reads with the lungs taken out of the image."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from trainer.data.chest_erase import erase_lungs, erased_region
from trainer.lungs_erased import lungs_erased_record

CLASSES = ("normal", "pneumonia", "COVID-19")


def test_the_erased_chest_is_both_lungs_the_mediastinum_between_them_and_a_margin() -> None:
    lung = np.zeros((100, 100), np.float32)
    lung[30:70, 20:40] = 1.0  # two lungs, 20 px apart
    lung[30:70, 60:80] = 1.0
    region = erased_region(lung)
    assert region[50, 50]  # the mediastinum between them
    assert region[27, 30] and region[50, 83]  # within the 5 px margin
    assert not region[20, 30] and not region[50, 90] and not region[5, 5]
    assert not erased_region(np.zeros_like(lung)).any()  # no lungs: nothing to erase


def test_a_ct_slices_body_loses_its_inside_but_for_its_rim() -> None:
    lung = np.zeros((100, 100), np.float32)
    lung[40:60, 25:45] = 1.0  # one lung found; the other, full of consolidation, was not
    body = np.zeros((100, 100), bool)
    body[10:90, 10:90] = True
    region = erased_region(lung, body)
    assert region[50, 70]  # the lung the finder missed
    assert not region[11, 50] and not region[50, 88] and not region[5, 5]  # the rim and the air stay


def test_erasing_fills_the_region_with_the_mean_grey_outside_it_and_leaves_the_rest() -> None:
    pixels = np.arange(10000, dtype=np.float32).reshape(100, 100)
    lung = np.zeros((100, 100), np.float32)
    lung[40:60, 40:60] = 1.0
    erased, region = erase_lungs(pixels, lung), erased_region(lung)
    assert np.all(erased[region] == pytest.approx(pixels[~region].mean()))
    assert np.array_equal(erased[~region], pixels[~region])
    assert np.array_equal(pixels, np.arange(10000, dtype=np.float32).reshape(100, 100))  # the image itself is not touched
    everything = erase_lungs(pixels, lung, np.ones((100, 100), bool))  # a slice cut close: nothing outside the chest
    assert np.all(everything == pytest.approx(pixels.mean()))


def _rows(n_per_class: int) -> list:
    rows = []
    for target, label, source in ((0, "normal", "RSNA"), (1, "pneumonia", "NIH"), (2, "COVID-19", "ieee8023")):
        rows += [SimpleNamespace(target=target, label=label, source=source, patient_id=f"{label}:{i}") for i in range(n_per_class)]
    return rows


def test_a_model_that_reads_the_film_around_the_lungs_keeps_its_auc_and_one_that_reads_the_lungs_falls_to_chance() -> None:
    rows = _rows(12)
    covid = np.array([r.label == "COVID-19" for r in rows])
    rng = np.random.default_rng(0)
    sent = np.clip(0.3 + 0.4 * covid + rng.normal(0, 0.15, len(rows)), 0, 1)

    context = lungs_erased_record(rows, sent, sent, CLASSES, radiographs=True, n_boot=50)
    assert context["point"]["auc_as_sent"] > 0.85
    assert context["point"]["auc_lungs_erased"] == pytest.approx(context["point"]["auc_as_sent"])
    assert context["point"]["adult_auc_lungs_erased"] == pytest.approx(context["point"]["adult_auc_as_sent"])

    assert context["point"]["gap_lungs_erased"] == pytest.approx(sent[covid].mean() - sent[~covid].mean())
    lungs_only = lungs_erased_record(rows, sent, np.full(len(rows), 0.9), CLASSES, radiographs=True, n_boot=50)
    assert lungs_only["point"]["auc_lungs_erased"] == pytest.approx(0.5)  # one flat input for every image: ties
    assert lungs_only["point"]["gap_lungs_erased"] == pytest.approx(0.0)
    # taught to answer nothing on an erased chest, a score can keep its ranking a hair apart: the AUC says so, the gap
    # says how little it moves an answer
    hair = lungs_erased_record(rows, sent, 1 / 3 + 1e-3 * sent, CLASSES, radiographs=True, n_boot=50)
    assert hair["point"]["auc_lungs_erased"] == pytest.approx(context["point"]["auc_as_sent"])
    assert hair["point"]["gap_lungs_erased"] == pytest.approx(1e-3 * context["point"]["gap_as_sent"])
    lo, hi = lungs_only["ci95"]["auc_as_sent"]
    assert lo <= lungs_only["point"]["auc_as_sent"] <= hi
    assert lungs_only["n_images"] == 36 and lungs_only["n_covid"] == 12 and lungs_only["n_adult_normal"] == 12


def test_ct_slices_have_no_adult_pair_and_a_model_without_a_covid_class_is_skipped() -> None:
    rows = [SimpleNamespace(target=t, label=("non-COVID", "COVID-19")[t], source="UCSD", patient_id=f"p{i}") for i, t in enumerate([0, 1] * 6)]
    p = np.linspace(0, 1, 12)
    ct = lungs_erased_record(rows, p, p[::-1], ("non-COVID", "COVID-19"), radiographs=False, n_boot=20)
    assert set(ct["point"]) == {"auc_as_sent", "auc_lungs_erased", "gap_as_sent", "gap_lungs_erased"}
    assert "skipped" in lungs_erased_record(rows, p, p, ("normal", "pneumonia"), radiographs=True)


def test_erased_copies_double_the_training_set_with_the_chest_erased_and_no_class(tmp_path) -> None:
    import cv2
    import torch

    from covidviewer.imaging.preprocess import Preprocess
    from trainer.data.augment import AugmentParams
    from trainer.data.datasets import ClassificationDataset
    from trainer.data.images import ImageCache
    from trainer.data.labels import Row
    from trainer.tasks import ClassificationTask

    yy, xx = np.mgrid[0:64, 0:64]
    film = (60 + 120 * ((yy // 4 + xx // 4) % 2)).astype(np.uint8)  # texture everywhere, the lungs included
    cv2.imwrite(str(tmp_path / "a.png"), film)
    path = (tmp_path / "a.png").resolve()
    lung = np.zeros((64, 64), np.float32)
    lung[16:48, 12:28] = lung[16:48, 36:52] = 1.0
    pp = Preprocess(kind="cxr", size=(64, 64), channels=1, mean=(0.0,), std=(1.0,), fit="stretch")
    dataset = ClassificationDataset([Row(path, "COVID-19", 2, "p1", "", source="ieee8023")], pp, ImageCache(),
                                    AugmentParams(erased_copies=True), lung_masks={path: lung}, num_classes=3)
    assert len(dataset) == 2
    sent, copy = dataset[0], dataset[1]
    assert not sent["erased"] and copy["erased"]
    chest = erased_region(lung)
    assert float(sent["image"][0][torch.from_numpy(chest)].std()) > 0.1  # the lungs' texture as sent
    assert float(copy["image"][0][torch.from_numpy(chest)].std()) < 1e-6  # one grey with the chest erased
    assert torch.equal(copy["image"][0][torch.from_numpy(~chest)], sent["image"][0][torch.from_numpy(~chest)])

    task = ClassificationTask(SimpleNamespace(binary_logit=False), {})
    logits = torch.tensor([[0.0, 0.0, 4.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    batch = {"target": torch.tensor([2, 2, 0]), "erased": torch.tensor([False, True, True]), "source": ["a", "b", "c"]}
    loss = task.loss({"logits": logits}, batch)
    usual = torch.nn.functional.cross_entropy(logits[:1], batch["target"][:1])
    assert float(loss) == pytest.approx((float(usual) + 2 * np.log(3)) / 3)  # a flat answer costs log 3, as any class
    assert task.batch_stats({"logits": logits}, batch) == (1.0, 1.0)  # the erased copies have no class to be right on
    # under mixup each item's target is a distribution, an erased copy's uniform, mixed as the labels are
    perm, lam = torch.tensor([1, 0, 2]), torch.tensor(0.25)
    mixed = task.loss({"logits": logits, "perm": perm, "lam": lam}, batch)
    one_hot = torch.nn.functional.one_hot(batch["target"], 3).float()
    one_hot[1:] = 1.0 / 3
    target = 0.25 * one_hot + 0.75 * one_hot[perm]
    assert float(mixed) == pytest.approx(float(-(target * torch.log_softmax(logits, 1)).sum(1).mean()))
    binary = ClassificationTask(SimpleNamespace(binary_logit=True), {})
    single = torch.tensor([[2.0], [0.0], [-1.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(single.reshape(-1), 0.25 * torch.tensor([1.0, 0.5, 0.5]) + 0.75 * torch.tensor([0.5, 1.0, 0.5]))
    assert float(binary.loss({"logits": single, "perm": perm, "lam": lam}, {**batch, "target": torch.tensor([1, 1, 0])})) == pytest.approx(float(expected))
    # GAIN (VGG-16-GA): its own loss on the other images, with their attention-mining scores, uniform on the copies
    gain = ClassificationTask(SimpleNamespace(binary_logit=False), {"attention_alpha": 0.5})
    expected = float(usual) + 0.5 * 0.3
    assert float(gain.loss({"logits": logits, "am_scores": torch.tensor([0.3])}, batch)) == pytest.approx((expected + 2 * np.log(3)) / 3)
    adversary = {"adversary_loss": torch.tensor(9.0), "adversary_rows": torch.tensor(3)}  # the engine adds its loss
    assert float(task.loss({"logits": logits, **adversary}, batch)) == pytest.approx(float(loss))
    with pytest.raises(ValueError, match="not with"):
        task.loss({"logits": logits, "features": torch.zeros(3, 4)}, batch)


def test_gain_mines_attention_on_the_images_and_only_classifies_their_erased_copies() -> None:
    import torch

    from covidviewer.models import create_model
    from trainer.tasks import ClassificationTask

    torch.manual_seed(0)
    model = create_model("vgg16_ga").eval()
    images, lung = torch.randn(3, 3, 64, 64), torch.ones(3, 1, 64, 64)
    batch = {"image": images, "target": torch.tensor([2, 0, 1]), "lung_mask": lung, "erased": torch.tensor([False, True, True])}
    task = ClassificationTask(SimpleNamespace(binary_logit=False), {"attention_alpha": 1.0})
    out = task.forward(model, batch, train=True)
    assert out["am_scores"].shape == (1,)  # the one image with a class
    with torch.no_grad():
        assert torch.allclose(out["logits"], model(images, lung), atol=1e-5)  # one classification stream over all
