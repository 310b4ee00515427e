"""Issue 12's data pipeline: several csvs in one split, coarse labels as set targets, sampling
balanced over (label, source), leave-sources-out, style erasure, and the lung crop in the trainer."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.config import load_recipe
from trainer.data.augment import erase_style, item_rng
from trainer.data.labels import Row, read_labels
from trainer.data.splits import make_split
from trainer.data.sampling import sampling_weights
from trainer.losses import set_cross_entropy

CLASSES = ("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia")
SET_MAP = {"covid": "COVID-19", "pneumonia": ["bacterial pneumonia", "viral pneumonia"]}


def _csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "patient_id", "source"])
        w.writerows(rows)
    return path


def test_a_coarse_label_becomes_a_set_target_and_children_are_told_apart(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    path = _csv(tmp_path / "labels.csv", [["a.png", "pneumonia", "p1", "NIH"], ["b.png", "covid", "p2", "ieee"], ["c.png", "normal", "p3", "Kermany 2018"]])
    rows = read_labels(path, CLASSES, SET_MAP, child_sources=("Kermany",)).rows
    pneumonia, covid, child = rows
    assert pneumonia.coarse and pneumonia.targets == (2, 3) and pneumonia.label == "pneumonia"
    assert covid.targets == (0,) and not covid.coarse and covid.label == "COVID-19"
    assert covid.csv_label == "covid" and pneumonia.csv_label == "pneumonia"  # the csv's own label survives the map
    assert [r.age_group for r in rows] == ["adult", "adult", "child"]


def test_set_cross_entropy_is_cross_entropy_for_one_class_and_sums_a_set() -> None:
    logits = torch.tensor([[2.0, 0.5, 1.0, -1.0], [0.1, 0.2, 3.0, 3.0]])
    one = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(set_cross_entropy(logits, one), torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0])))
    pair = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.float32)
    p = logits.softmax(1)
    expected = -torch.log(p[:, 2] + p[:, 3]).mean()
    torch.testing.assert_close(set_cross_entropy(logits, pair), expected)
    # a coarse row is satisfied by either member: moving mass between them does not change the loss
    swapped = logits[:, [0, 1, 3, 2]]
    torch.testing.assert_close(set_cross_entropy(swapped, pair), expected)


def _rows(n_per: dict[tuple[str, str], int]) -> list[Row]:
    rows, k = [], 0
    for (label, source), n in n_per.items():
        for _ in range(n):
            rows.append(Row(Path(f"/x/{k}.png"), label, 0, f"{source}:{k}", source=source))
            k += 1
    return rows


class _Strata:
    def __init__(self, rows: list[Row]):
        self.rows = rows

    def strata(self) -> list[tuple[str, str]]:
        return [(r.label, r.source) for r in self.rows]


def test_source_label_sampling_gives_each_label_equal_mass_and_sources_sqrt_shares() -> None:
    rows = _rows({("normal", "RSNA"): 300, ("normal", "NIH"): 75, ("covid", "ieee"): 50})
    w = sampling_weights(_Strata(rows), "source_label").numpy()
    mass = Counter()
    for r, wi in zip(rows, w):
        mass[(r.label, r.source)] += wi
    assert mass[("covid", "ieee")] == pytest.approx(0.5)
    assert mass[("normal", "RSNA")] + mass[("normal", "NIH")] == pytest.approx(0.5)
    assert mass[("normal", "RSNA")] / mass[("normal", "NIH")] == pytest.approx(2.0)  # sqrt(300 / 75)


def test_split_by_source_keeps_every_source_in_validation_and_hold_out_moves_sources_to_test() -> None:
    rows = _rows({("normal", "RSNA"): 60, ("normal", "NIH"): 20, ("covid", "ieee"): 40, ("covid", "Figure1"): 10})
    split = make_split(rows, 0.2, seed=3, by_source=True)
    assert {r.source for r in split.val} == {"RSNA", "NIH", "ieee", "Figure1"}
    held = make_split(rows, 0.2, seed=3, by_source=True, hold_out_sources=("figure1",))
    assert {r.source for r in held.test} == {"Figure1"}
    assert "Figure1" not in {r.source for r in held.train + held.val}


def test_style_erasure_is_seeded_bounded_and_changes_the_image() -> None:
    rng_image = np.random.default_rng(0)
    unit = np.clip(rng_image.normal(0.5, 0.2, (64, 48)), 0, 1).astype(np.float32)
    a = erase_style(unit, 1.0, item_rng(1, 2, 3))
    b = erase_style(unit, 1.0, item_rng(1, 2, 3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == unit.shape and a.min() >= 0 and a.max() <= 1
    assert np.abs(a - unit).mean() > 0.01
    np.testing.assert_array_equal(erase_style(unit, 0.0, item_rng(1, 2, 3)), unit)


def test_the_shipped_dpn_recipe_crops_to_the_lungs_and_reads_both_packs() -> None:
    from covidviewer.models import get_spec
    from trainer.trained_spec import effective_preprocess, needs_lung_masks

    recipe = load_recipe("dpn92_se", Path(__file__).resolve().parents[2] / "trainer/recipes/cpu_budget/dpn92_se.toml")
    pp = effective_preprocess(get_spec("dpn92_se"), recipe)
    assert pp.lung_crop and pp.intensity == "percentile" and pp.size == (128, 128)
    assert needs_lung_masks(get_spec("dpn92_se"), recipe, training=False)
    assert recipe["data"]["label_map"]["pneumonia"] == ["bacterial pneumonia", "viral pneumonia"]
    assert any("input.preprocess.lung_crop" in d for d in recipe.deviations)


def test_the_mask_store_gives_back_a_mask_only_for_the_same_unchanged_image(tmp_path: Path) -> None:
    import os

    from trainer.data.masks import MaskStore

    image = tmp_path / "film.png"
    image.write_bytes(b"first version")
    store = MaskStore(tmp_path / "store")
    mask = np.zeros((20, 30), np.float32)
    mask[5:15, 5:25] = 1.0
    assert store.get(image, (20, 30)) is None
    store.put(image, mask)
    np.testing.assert_array_equal(store.get(image, (20, 30)), mask)
    assert store.get(image, (21, 30)) is None, "a mask of another size is not this image's"
    image.write_bytes(b"second version, longer")  # a changed image never reuses the old mask
    os.utime(image, ns=(1, 1))
    assert store.get(image, (20, 30)) is None


def _put_many_times(args: tuple[Path, Path]) -> None:
    from trainer.data.masks import MaskStore

    folder, image = args
    mask = np.ones((64, 64), np.float32)
    for _ in range(150):
        MaskStore(folder).put(image, mask)


def test_two_runs_filling_the_mask_store_at_once_do_not_break_each_other(tmp_path: Path) -> None:
    import multiprocessing

    from trainer.data.masks import MaskStore

    image = tmp_path / "film.png"
    image.write_bytes(b"pixels")
    with multiprocessing.get_context("fork").Pool(2) as pool:  # two runs started together (scripts/gpu-train)
        pool.map(_put_many_times, [(tmp_path / "store", image)] * 2)
    assert MaskStore(tmp_path / "store").get(image, (64, 64)) is not None
    assert not list((tmp_path / "store").rglob("*.tmp.png"))


def test_film_size_augmentation_puts_the_film_and_its_lungs_on_a_larger_grid_and_is_seeded() -> None:
    from trainer.data.augment import AugmentParams, augment_2d

    params = AugmentParams.from_recipe({"film_size": 1.0, "film_size_range": [1.0, 8.0]})
    pixels = np.random.default_rng(0).uniform(-1000, 1000, (60, 50)).astype(np.float32)
    lung = np.zeros((60, 50), np.float32)
    lung[10:50, 5:45] = 1.0
    out, (mask,), _ = augment_2d(pixels, [lung], (0.0, 2000.0), params, item_rng(1, 2, 3))
    again, _, _ = augment_2d(pixels, [lung], (0.0, 2000.0), params, item_rng(1, 2, 3))
    np.testing.assert_array_equal(out, again)
    factor = out.shape[0] / 60
    assert 1.0 <= factor <= 8.0 and out.shape[1] == round(50 * factor) and mask.shape == out.shape
    assert mask.sum() / lung.sum() == pytest.approx(factor ** 2, rel=0.05)  # the lungs stay where they were
    assert -1000 <= out.min() and out.max() <= 1000  # cubic overshoot clipped to the window
    sizes = {augment_2d(pixels, [None], (0.0, 2000.0), params, item_rng(1, 2, i))[0].shape[0] for i in range(30)}
    assert min(sizes) < 60 * 2 and max(sizes) > 60 * 4  # log-uniform over 1-8x
    off, _, _ = augment_2d(pixels, [lung], (0.0, 2000.0), AugmentParams(), item_rng(1, 2, 3))
    assert off.shape == pixels.shape
    assert load_recipe("dpn92_se").values["augment"]["film_size"] == 0.0  # off unless a recipe asks for it


def test_export_window_augmentation_cuts_or_squeezes_the_grey_range_within_its_spread_and_is_seeded() -> None:
    from trainer.data.augment import AugmentParams, augment_2d, rewindow

    ramp = np.linspace(0.0, 1.0, 101, dtype=np.float32)[None, :]
    np.testing.assert_allclose(rewindow(ramp, 0.1, 0.9)[0, [0, 10, 50, 90, 100]], [0, 0, 0.5, 1, 1], atol=1e-6)
    np.testing.assert_allclose(rewindow(ramp, -0.25, 1.25)[0, [0, 50, 100]], [1 / 6, 0.5, 5 / 6], atol=1e-6)
    params = AugmentParams.from_recipe({"export_window": 1.0, "export_window_range": 0.2})
    pixels = np.linspace(-1000, 1000, 60 * 50, dtype=np.float32).reshape(60, 50)  # the window's whole range
    window = (0.0, 2000.0)
    out, _, _ = augment_2d(pixels, [None], window, params, item_rng(1, 2, 3))
    np.testing.assert_array_equal(out, augment_2d(pixels, [None], window, params, item_rng(1, 2, 3))[0])
    assert out.shape == pixels.shape and -1000 <= out.min() and out.max() <= 1000
    lows, highs = zip(*(
        (o.min(), o.max()) for o in (augment_2d(pixels, [None], window, params, item_rng(1, 2, i))[0] for i in range(40))
    ))
    # a squeezed range keeps its ends inside the window (by at most 0.2 of it), a cut one reaches them
    assert min(lows) == pytest.approx(-1000) and max(lows) > -1000 + 0.05 * 2000
    assert max(highs) == pytest.approx(1000) and min(highs) < 1000 - 0.05 * 2000
    assert max(lows) <= -1000 + 2000 * 0.2 + 1
    off, _, _ = augment_2d(pixels, [None], window, AugmentParams(), item_rng(1, 2, 3))
    np.testing.assert_array_equal(off, pixels)
    assert load_recipe("seme_densenet169").values["augment"]["export_window"] == 0.0  # off unless a recipe asks
