"""Shortcut audit: per-source and adult figures on hand-made numbers, the source probe against a known
answer, penultimate features for every CXR classifier, and a corner marker the audit must flag and the lung crop
must take out."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from covidviewer.models import create_model, get_spec
from covidviewer.models.features import classifier_layers, logits_and_features
from trainer.audit import audit_summary, is_adult, shortcut_audit, source_name
from trainer.evaluation import evaluate_with_audit
from trainer.probe import fit_logistic, source_probe

from audit_rows import CLASSES, IEEE, KERMANY, NIH, RSNA, FakeRow, audit_rows as _rows


def _onehot(index: list[int], k: int = 4, p: float = 0.7) -> np.ndarray:
    prob = np.full((len(index), k), (1 - p) / (k - 1))
    prob[np.arange(len(index)), index] = p
    return prob


@pytest.mark.parametrize(
    "source, short, adult",
    [(KERMANY, "Kermany", False), (NIH, "NIH", True), (RSNA, "RSNA", True), (IEEE, "ieee8023", True),
     ("agchung/Figure1-COVID-chestxray-dataset", "Figure1", True), ("", "(unspecified)", True)],
)
def test_source_names_and_who_is_an_adult(source: str, short: str, adult: bool) -> None:
    assert source_name(source) == short
    assert is_adult(FakeRow("normal", 1, "p", source)) is adult


def test_a_row_that_marks_its_age_wins_over_the_source() -> None:
    @dataclass(frozen=True)
    class Marked(FakeRow):
        adult: bool = True

    assert is_adult(Marked("normal", 1, "p", KERMANY, adult=True))


def test_adult_figures_and_per_source_accuracy_on_hand_made_numbers() -> None:
    rows = _rows([(IEEE, "COVID-19", (0,), 10), (RSNA, "normal", (1,), 10), (NIH, "pneumonia", (2, 3), 10), (KERMANY, "normal", (1,), 10)])
    # COVID: 8 of 10 called COVID; RSNA normals: 3 of 10 called COVID; NIH pneumonia: 2 of 10 COVID, 5 viral, 3 bacterial
    pred = [0] * 8 + [1] * 2 + [0] * 3 + [1] * 7 + [0] * 2 + [3] * 5 + [2] * 3 + [1] * 10
    audit = shortcut_audit(_onehot(pred), None, CLASSES, rows, threshold=0.9, n_boot=50)
    json.dumps(audit, allow_nan=False)
    point = audit["adult"]["point"]
    assert point["covid_sensitivity"] == pytest.approx(0.8)
    assert point["normal_called_covid"] == pytest.approx(0.3)
    assert point["pneumonia_called_covid"] == pytest.approx(0.2)
    assert point["normal_called_covid_at_threshold"] == 0.0  # no probability reaches 0.9
    # p(COVID) is 0.7 or 0.1: 8 x 7 COVID-above-normal pairs, 8 x 3 + 2 x 7 ties, 2 x 3 below
    assert point["auc_normal_vs_covid"] == pytest.approx((8 * 7 + 0.5 * (8 * 3 + 2 * 7) + 0) / 100)
    assert audit["adult"]["counts"]["normal"]["images"] == 10  # Kermany's children are not in it
    per = audit["per_source"]
    assert per["NIH"]["point"]["accuracy"] == pytest.approx(0.8)  # bacterial or viral both right
    assert per["Kermany"]["point"]["accuracy"] == 1.0
    assert "auc/COVID-19" not in per["Kermany"]["point"]  # undefined with one class only
    lo, hi = per["RSNA"]["ci95"]["accuracy"]
    assert lo <= 0.7 <= hi
    flags = " ".join(audit["flags"])
    assert "30% of adult normal films are called COVID-19" in flags
    assert "20% of adult non-COVID pneumonia" in flags
    assert "COVID-19 sensitivity" not in flags  # 0.8 meets the bar
    assert "skipped (no features given)" in audit_summary(audit)


def test_a_model_without_a_covid_class_skips_the_adult_check() -> None:
    classes = ("normal", "bacterial pneumonia", "viral pneumonia")
    rows = [FakeRow("normal", 0, f"p{i}", RSNA) for i in range(4)]
    audit = shortcut_audit(_onehot([0, 0, 1, 2], 3), None, classes, rows, n_boot=10)
    assert "no COVID-19 class" in audit["adult"]["skipped"]
    assert audit["flags"] == []


def test_a_ct_model_is_not_audited_with_a_radiographs_words() -> None:
    # UCSD non-COVID CT slices have no age and are not "pneumonia": a CT card must not flag
    # "adult non-COVID pneumonia films called COVID-19" (the shipped DResUNet card did)
    classes = ("non-COVID", "COVID-19")
    ucsd = "UCSD-AI4H/COVID-CT (mirror: KamalEyubov/sose2020-idv)"
    rows = _rows([(ucsd, "non_covid", (0,), 6), (ucsd, "covid", (1,), 6)])
    prob = _onehot([1] * 12, 2)  # every slice called COVID-19
    radiograph_words = shortcut_audit(prob, None, classes, rows, n_boot=10)
    assert any("adult non-COVID pneumonia" in f for f in radiograph_words["flags"])  # what it said before
    audit = shortcut_audit(prob, None, classes, rows, n_boot=10, radiographs=False)
    assert audit["adult"]["population"] == "CT slices" and audit["n_adult_images"] == 0
    assert audit["adult"]["point"]["pneumonia_called_covid"] == 1.0  # the figure stays; its words change
    assert "100% of non-COVID slices are called COVID-19 by argmax (more than 10%)." in audit["flags"]
    assert not any("adult" in f or "pneumonia" in f for f in audit["flags"])
    summary = audit_summary(audit)
    assert "CT slices (normal 0, non-COVID 6, COVID-19 6):" in summary and "pneumonia" not in summary and "adult" not in summary.split("per source")[0]
    assert audit["per_source"][source_name(ucsd)]["point"]["accuracy"] == 0.5


def test_logistic_fit_reaches_the_penalised_optimum() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 4))
    y = (z[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(float)
    w = fit_logistic(z, y, c=1.0)
    p = 1 / (1 + np.exp(-(z @ w[:-1] + w[-1])))
    grad = np.r_[z.T @ (p - y) + w[:-1], np.sum(p - y)]
    assert np.abs(grad).max() < 1e-6


def test_probe_finds_a_source_feature_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    sources = np.repeat(["A", "B", "C"], 20)
    patients = np.array([f"{s}{i // 2}" for i, s in enumerate(sources)])  # two images per patient
    noise = rng.normal(size=(60, 10))
    blind = source_probe(noise, sources, patients)
    assert blind["auc"] < 0.7 and blind["folds"] == 5
    marked = noise.copy()
    marked[:, 3] += 5.0 * (sources == "B")
    found = source_probe(marked, sources, patients)
    assert found["per_source_auc"]["B"] > 0.95  # B is named; A and C stay mixed, so the macro AUC is lower
    assert found["auc"] > blind["auc"] + 0.1


def test_probe_leaves_out_sources_with_too_few_patients_and_says_so() -> None:
    sources = np.array(["A"] * 10 + ["B"] * 3)
    probe = source_probe(np.zeros((13, 2)), sources, [f"p{i}" for i in range(13)])
    assert probe["left_out"] == {"B": 3}
    assert "needs two sources" in probe["skipped"]


# --------------------------------------------------------------------------- penultimate features


@pytest.mark.parametrize("name", ["dpn92_se", "seme_resnet50", "seme_densenet169", "vgg16_ga", "small_cnn"])
def test_features_are_the_classifier_input_for_every_cxr_classifier(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    logits, features = logits_and_features(model, torch.randn(2, model.spec.preprocess.channels, 32, 32))
    (layer,) = classifier_layers(model)
    classifier = dict(model.named_modules())[layer]
    assert features.shape == (2, classifier.in_features)
    torch.testing.assert_close(classifier(features), logits)  # the classifier of the features is the output
    assert all(not m._forward_pre_hooks for m in model.modules())  # hooks released


def test_cascade_features_are_both_stages_side_by_side() -> None:
    from covidviewer.models.cascade import CascadeSEMEnet

    stage1, stage2, segmenter = TinyCNN(3), TinyCNN(2), nn.Identity()
    for part, name in ((stage1, "seme_resnet50"), (stage2, "seme_densenet169"), (segmenter, "lung_unet")):
        part.spec = get_spec(name)  # what create_model attaches; tiny stand-ins keep the test fast
    cascade = CascadeSEMEnet(stage1, segmenter, stage2)
    cascade.spec = get_spec("cascade_semenet")
    x1, x2 = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)
    logits, features = logits_and_features(cascade, x1, x2)
    assert classifier_layers(cascade) == ["stage1.fc", "stage2.fc"]  # the U-Net's 1x1 output conv is not one
    assert logits.shape == (2, 4) and features.shape == (2, 16)
    torch.testing.assert_close(features[:, :8], logits_and_features(stage1, x1)[1])


class TinyCNN(nn.Module):
    """conv -> ReLU -> global average pool -> linear: the smallest model with a 'penultimate' layer."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


def _marker_set(marker: bool, n: int = 48, size: int = 24) -> tuple[torch.Tensor, torch.Tensor, list[FakeRow]]:
    """Noise films; 'COVID-19' ones carry a faint central blob; source NIH (half of each class) a bright corner marker."""
    rng = np.random.default_rng(7)
    images = rng.normal(0.0, 0.3, (n, 1, size, size)).astype(np.float32)
    labels = np.arange(n) % 2  # 0 normal, 1 COVID-19 (classes of this tiny model)
    sources = np.where((np.arange(n) // 2) % 2 == 0, RSNA, NIH)
    images[labels == 1, :, 10:14, 10:14] += 0.5
    if marker:
        images[sources == NIH, :, :4, :4] = 3.0
    rows = [FakeRow(["normal", "COVID-19"][t], int(t), f"p{i}", s) for i, (t, s) in enumerate(zip(labels, sources))]
    return torch.from_numpy(images), torch.from_numpy(labels), rows


def _lung_cropped(films: torch.Tensor, size: int = 24) -> torch.Tensor:
    """Each film as a chest model reads it with the lung crop (``prepare_image``, the app's and the trainer's one
    path), its lungs being the middle of the film (rows and columns 6-17), as the lung U-Net would find them."""
    from covidviewer.imaging.preprocess import Preprocess, prepare_image

    lungs = np.zeros((size, size), np.float32)
    lungs[6:18, 6:18] = 1.0
    pp = Preprocess(kind="cxr", size=(size, size), lung_crop=True, intensity="percentile", fit="stretch")
    return torch.from_numpy(np.stack([prepare_image(film[0].numpy(), pp, (0.0, 4.0), lung_mask=lungs)[0] for film in films]))


def _train_and_audit(marker: bool, lung_crop: bool = False) -> dict:
    torch.manual_seed(0)
    model = TinyCNN()
    x, y, rows = _marker_set(marker)
    if lung_crop:
        x = _lung_cropped(x)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.eval()
    logits, features = logits_and_features(model, x)
    return shortcut_audit(logits.softmax(1).numpy(), features.numpy(), ("normal", "COVID-19"), rows, n_boot=20)


def test_a_corner_marker_that_names_the_source_is_flagged() -> None:
    audit = _train_and_audit(marker=True)
    probes = audit["source_probe"]
    assert probes["all"]["auc"] > 0.9
    assert probes["within"]["normal"]["auc"] > 0.9 and probes["within"]["COVID-19"]["auc"] > 0.9
    assert any("tells the sources apart" in flag and "NIH, RSNA" in flag for flag in audit["flags"])


def test_without_the_marker_the_probe_is_not_flagged() -> None:
    audit = _train_and_audit(marker=False)
    assert audit["source_probe"]["all"]["auc"] < 0.8
    assert not any("tells the sources apart" in flag for flag in audit["flags"])


def test_the_lung_crop_takes_the_corner_marker_out_of_the_model_input_and_the_audit_then_passes() -> None:
    marked, _, rows = _marker_set(marker=True)
    plain, _, _ = _marker_set(marker=False)
    nih = np.array([row.source == NIH for row in rows])
    assert not torch.equal(marked[nih], plain[nih])  # the films differ by the marker...
    torch.testing.assert_close(_lung_cropped(marked), _lung_cropped(plain))  # ...what the model reads does not
    audit = _train_and_audit(marker=True, lung_crop=True)
    assert audit["source_probe"]["all"]["auc"] < 0.8
    assert not any("tells the sources apart" in flag for flag in audit["flags"])


# --------------------------------------------------------------------------- one pass in evaluation


class _Task:
    class spec:  # noqa: N801 - stands in for a ModelSpec
        classes = ("normal", "COVID-19")
        modality = "CXR"

    def predict(self, model: nn.Module, batch: dict) -> torch.Tensor:
        return model(batch["image"])

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(1)


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, rows: list[FakeRow]):
        self.x, self.rows = x, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.x[i], "target": self.rows[i].target, "index": i}

    def row(self, i: int) -> FakeRow:
        return self.rows[i]


def test_evaluate_with_audit_runs_the_network_once_and_writes_audit_json(tmp_path) -> None:
    torch.manual_seed(0)
    model = TinyCNN()
    x, _, rows = _marker_set(marker=True)
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    metrics, audit = evaluate_with_audit(model, _Task(), _Dataset(x, rows), torch.device("cpu"), 16, tmp_path, n_boot=10)
    assert len(calls) == 3  # 48 images, batches of 16: one forward each
    assert audit is not None and audit["source_probe"]["all"]["auc"] > 0.9
    assert json.loads((tmp_path / "audit.json").read_text())["flags"] == audit["flags"]
    assert metrics["n_images"] == 48


def test_with_a_cards_calibration_the_audit_reads_its_probabilities_at_its_threshold() -> None:
    from covidviewer.models.calibration import Calibration, OperatingPoint

    torch.manual_seed(0)
    model = TinyCNN()
    x, _, rows = _marker_set(marker=True)
    dataset = _Dataset(x, rows)
    plain_metrics, plain = evaluate_with_audit(model, _Task(), dataset, torch.device("cpu"), 16, None, n_boot=10)
    point = OperatingPoint("COVID-19", 0.5, 0.8, 0.75, 0.8, 0.8)
    hot = Calibration(("normal", "COVID-19"), temperature=50.0, operating_point=point)  # every probability -> 0.5
    metrics, audit = evaluate_with_audit(model, _Task(), dataset, torch.device("cpu"), 16, None, n_boot=10, calibration=hot)
    assert json.dumps(metrics, sort_keys=True) == json.dumps(plain_metrics, sort_keys=True)  # the network's own (NaN-safe)
    assert audit["adult"]["threshold"] == 0.5 and plain["adult"]["threshold"] is None
    assert audit["adult"]["point"]["auc_normal_vs_covid"] == pytest.approx(plain["adult"]["point"]["auc_normal_vs_covid"])
    # at temperature 50 every p(COVID-19) sits within a hair of 0.5: the threshold splits them as the logits' sign does
    logits = torch.cat([model(x[i:i + 16]) for i in range(0, len(x), 16)]).detach().numpy()
    covid_rows = np.array([r.label == "COVID-19" for r in rows])
    expected = np.mean((logits[:, 1] - logits[:, 0] >= 0)[covid_rows])
    assert audit["adult"]["point"]["covid_sensitivity_at_threshold"] == pytest.approx(expected)


def test_with_a_cards_ood_model_each_image_gets_its_score_and_flag_in_predictions_csv(tmp_path) -> None:
    """What ``trainer held-out-source`` reads of issue 13's net: the app's OOD score and flag of every image."""
    import csv

    from covidviewer.models.calibration import Calibration, OODModel

    torch.manual_seed(0)
    model = TinyCNN()
    x, _, rows = _marker_set(marker=True)
    dataset = _Dataset(x, rows)
    keep: dict = {}
    evaluate_with_audit(model, _Task(), dataset, torch.device("cpu"), 16, tmp_path / "plain", n_boot=10, keep=keep)
    with open(tmp_path / "plain" / "predictions.csv", newline="") as fh:
        assert "ood_score" not in next(csv.reader(fh))  # no card, no OOD model: no columns
    features = keep["features"].astype(np.float64)
    d = features.shape[1]
    ood = OODModel(center=features.mean(0), projection=np.eye(d)[:, :2], group_names=("all",),
                   group_means=np.zeros((1, 2)), precision=np.eye(2), threshold=0.0)
    scores = ood.scores(features)
    ood = OODModel(**{**ood.arrays(), "group_names": ("all",), "threshold": float(np.median(scores))})
    card = Calibration(("normal", "COVID-19"), temperature=1.0, ood=ood)
    evaluate_with_audit(model, _Task(), dataset, torch.device("cpu"), 16, tmp_path / "ood", n_boot=10, calibration=card)
    with open(tmp_path / "ood" / "predictions.csv", newline="") as fh:
        written = list(csv.DictReader(fh))
    assert [float(r["ood_score"]) for r in written] == pytest.approx(scores, abs=1e-4)
    flags = [r["ood_flag"] == "1" for r in written]
    assert flags == [card.ood_flag(card.ood_score(f)) for f in features] and 0 < sum(flags) < len(flags)
