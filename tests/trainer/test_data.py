"""labels.csv parsing with bad-row reporting, patient-level splits, augmentation determinism."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from trainer.data.augment import AugmentParams, augment_2d, augment_volume, item_rng
from trainer.data.images import ImageCache
from trainer.data.labels import LabelsError, Row, read_labels
from trainer.data.splits import SplitError, check_no_leak, make_split, patient_folds

CLASSES = ("COVID-19", "normal", "pneumonia")
LABEL_MAP = {"covid": "COVID-19", "bacterial": "pneumonia", "viral": "pneumonia"}


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_bad_rows_are_counted_and_reported_never_silently(tmp_path: Path, cxr_csv) -> None:
    good = list(csv.DictReader(open(cxr_csv(per_label=1))))
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    rows = [[r["path"], r["label"], r["patient_id"]] for r in good]
    rows += [
        ["does/not/exist.png", "covid", "p-missing"],
        ["corrupt.png", "normal", "p-corrupt"],
        [good[0]["path"], "tuberculosis", "p-unknown"],
        ["", "normal", "p-empty"],
    ]
    csv_path = _csv(tmp_path / "labels.csv", ["path", "label", "patient_id"], rows)
    cache = ImageCache()
    report = read_labels(csv_path, CLASSES, LABEL_MAP, exclude_labels=["bacterial"], check_readable=cache.problem)
    reasons = Counter(reason.split(":")[0] for _, reason in report.skipped)
    assert reasons == {"missing file": 1, "unreadable image": 1, "unknown label": 1, "empty path": 1}
    assert report.skipped_count == 4
    assert report.excluded == {"bacterial": 1}
    assert len(report.rows) == len(good) - 1
    assert {r.label for r in report.rows} <= set(CLASSES)
    summary = report.summary()
    assert "SKIPPED 4 bad rows" in summary and "excluded by recipe: bacterial 1" in summary
    assert {n for n, _ in report.skipped} == {len(good) + 2, len(good) + 3, len(good) + 4, len(good) + 5}


def test_lung_seg_format_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for name in ("a.png", "a_mask.png"):
        (tmp_path / "img" / name).write_bytes(b"x")
    csv_path = _csv(tmp_path / "labels.csv", ["image_path", "mask_path", "patient_id", "label"], [["img/a.png", "img/a_mask.png", "p1", "covid"], ["img/a.png", "img/gone.png", "p2", "covid"]])
    report = read_labels(csv_path, None, need_mask=True)
    assert [r.path for r in report.rows] == [(tmp_path / "img" / "a.png").resolve()]
    assert report.rows[0].mask_path == (tmp_path / "img" / "a_mask.png").resolve()
    assert report.skipped_count == 1 and "mask" in report.skipped[0][1]


def test_unusable_csv_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="not found"):
        read_labels(tmp_path / "nope.csv", CLASSES)
    with pytest.raises(LabelsError, match="'path'"):
        read_labels(_csv(tmp_path / "x.csv", ["file", "label"], [["a", "b"]]), CLASSES)


def _random_rows(rng: np.random.Generator, n_patients: int, split_column: bool = False) -> list[Row]:
    rows = []
    for p in range(n_patients):
        label = str(rng.choice(["a", "b", "c"], p=[0.6, 0.3, 0.1]))
        split = ("train" if rng.random() < 0.8 else "val") if split_column else ""
        for i in range(int(rng.integers(1, 5))):
            rows.append(Row(Path(f"/x/{p}_{i}.png"), label, "abc".index(label), f"pat{p}", split))
    rng.shuffle(rows)  # row order must not matter
    return rows


@pytest.mark.parametrize("seed", range(25))
def test_patient_split_never_leaks_and_is_stratified_and_deterministic(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = _random_rows(rng, int(rng.integers(20, 80)))
    split = make_split(rows, 0.15, seed=seed)
    train_p = {r.patient_id for r in split.train}
    val_p = {r.patient_id for r in split.val}
    assert not train_p & val_p
    assert len(split.train) + len(split.val) == len(rows)
    for label in "ab":  # classes with enough patients appear on both sides
        assert any(r.label == label for r in split.val) and any(r.label == label for r in split.train)
    again = make_split(list(reversed(rows)), 0.15, seed=seed)
    assert {r.patient_id for r in again.val} == val_p
    assert 0.05 < len(val_p) / (len(val_p) + len(train_p)) < 0.3


@pytest.mark.parametrize("seed", range(10))
def test_models_that_drop_classes_share_the_full_csv_split(seed: int) -> None:
    """The cascade stages (subsets of classes) must validate on the same patients as the 4-class model."""
    rows = _random_rows(np.random.default_rng(seed), 60)
    full = make_split(rows, 0.15, seed, split_rows=rows)
    assert full.val == make_split(rows, 0.15, seed).val
    subset = [r for r in rows if r.label != "a"]  # e.g. stage 1 without COVID
    alone = make_split(subset, 0.15, seed, split_rows=rows)
    full_val = {r.patient_id for r in full.val}
    assert {r.patient_id for r in alone.val} == {r.patient_id for r in subset if r.patient_id in full_val}
    assert "over all rows" in alone.method


@pytest.mark.parametrize("seed", range(10))
def test_kfold_puts_each_patient_in_exactly_one_fold(seed: int) -> None:
    rows = _random_rows(np.random.default_rng(seed), 40)
    folds = patient_folds(rows, 5, seed)
    assert set(folds.values()) == set(range(5))
    sizes = Counter(folds.values())
    assert max(sizes.values()) - min(sizes.values()) <= 3
    vals = [make_split(rows, 0.15, seed, folds=5, fold=k).val for k in range(5)]
    assert sum(len(v) for v in vals) == len(rows)
    check_no_leak(*vals)


def test_an_existing_split_column_is_respected_and_checked() -> None:
    rows = _random_rows(np.random.default_rng(3), 30, split_column=True)
    split = make_split(rows, 0.15, seed=0)
    assert split.method == "the csv's own split column"
    assert all(r.split == "val" for r in split.val) and all(r.split == "train" for r in split.train)
    leaky = rows + [Row(Path("/x/leak.png"), "a", 0, split.val[0].patient_id, "train")]
    with pytest.raises(SplitError, match="two splits"):
        make_split(leaky, 0.15, seed=0)


def test_augmentation_is_seeded_per_item_and_keeps_mask_labels() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (60, 80)).astype(np.float32)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:50, 10:40] = 255
    mask[0:8, 0:8] = 127
    params = AugmentParams(hflip=0.5, rotate=20, scale=(0.8, 1.2), translate=0.1, crop_scale=(0.5, 1.0), brightness=0.2, contrast=0.2, clahe_prob=0.4)
    a = augment_2d(image, [mask], (127.5, 255.0), params, item_rng(1, 2, 3))
    b = augment_2d(image, [mask], (127.5, 255.0), params, item_rng(1, 2, 3))
    c = augment_2d(image, [mask], (127.5, 255.0), params, item_rng(1, 3, 3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])
    assert set(np.unique(a[1][0])) <= {0, 127, 255}
    assert a[1][0].shape == a[0].shape
    same = augment_2d(image, [mask], (127.5, 255.0), AugmentParams(), item_rng(0, 0, 0))
    np.testing.assert_array_equal(same[0], image)
    assert same[2] is None


def test_volume_augmentation_keeps_shape_and_fills_with_air() -> None:
    vol = np.ones((1, 4, 16, 16), np.float32)
    out = augment_volume(vol, fill=-1.0, params=AugmentParams(rotate=45, translate=0.2), rng=item_rng(0, 0, 1))
    assert out.shape == vol.shape
    assert out.min() == pytest.approx(-1.0) and out.max() == pytest.approx(1.0)


def test_replicates_of_another_seed_can_share_the_split(cxr_csv) -> None:
    """``data.split_seed``: the split of that seed whatever the run's own seed (which then sets only its start)."""
    from covidviewer.models import get_spec
    from trainer.config import load_recipe
    from trainer.data.build import load_data

    csv_path = cxr_csv(per_label=6)
    spec = get_spec("small_cnn")

    def val(*overrides: str) -> set:
        recipe = load_recipe("small_cnn", None, ["data.lung_masks=none", "input.preprocess.lung_crop=false", *overrides])
        return {row.path for row in load_data(spec, recipe, csv_path).split.val}

    splits = {seed: val(f"seed={seed}") for seed in range(4)}
    other = next(seed for seed in range(1, 4) if splits[seed] != splits[0])  # some seed splits otherwise
    assert val(f"seed={other}", "data.split_seed=0") == splits[0]


def test_a_label_spelt_with_other_case_or_hyphens_is_read_as_the_recipe_spells_it(tmp_path: Path, cxr_csv) -> None:
    good = list(csv.DictReader(open(cxr_csv(per_label=1, labels=("covid", "normal")))))
    respelt = {"covid": "COVID 19", "normal": "Normal"}
    rows = [[r["path"], respelt[r["label"]], r["patient_id"]] for r in good] + [[good[0]["path"], "Bacterial", "p-b"]]
    csv_path = _csv(tmp_path / "labels.csv", ["path", "label", "patient_id"], rows)
    report = read_labels(csv_path, CLASSES, LABEL_MAP, exclude_labels=["bacterial"])
    assert report.skipped == [] and report.excluded == {"Bacterial": 1}
    assert sorted(r.label for r in report.rows) == ["COVID-19", "normal"]
    assert report.respelled == {("COVID 19", "COVID-19"): 1, ("Normal", "normal"): 1}
    assert "'Normal' as 'normal' 1" in report.summary()


def test_training_rows_of_one_label_are_refused_and_the_skipped_label_named(tmp_path: Path, cxr_csv) -> None:
    """Rows of a label the recipe does not know are skipped; when what is left holds one label, a classifier would
    train on it alone: the trainer stops and says which label to map."""
    from covidviewer.models import get_spec
    from trainer.config import load_recipe
    from trainer.data.build import load_data

    good = list(csv.DictReader(open(cxr_csv(per_label=6, labels=("covid", "normal")))))
    rows = [[r["path"], "Healthy" if r["label"] == "normal" else r["label"], r["patient_id"]] for r in good]
    csv_path = _csv(tmp_path / "labels.csv", ["path", "label", "patient_id"], rows)
    recipe = load_recipe("small_cnn", None, ["data.lung_masks=none", "input.preprocess.lung_crop=false"])
    with pytest.raises(LabelsError, match=r"only \['COVID-19'\].*'Healthy' 6.*label_map"):
        load_data(get_spec("small_cnn"), recipe, csv_path, training=True)
    mapped = load_recipe("small_cnn", None, ["data.lung_masks=none", "input.preprocess.lung_crop=false",
                                              'data.label_map.Healthy="normal"'])
    assert {row.label for row in load_data(get_spec("small_cnn"), mapped, csv_path, training=True).split.train} == {"COVID-19", "normal"}


def test_rows_without_a_patient_are_kept_each_its_own_patient_and_the_log_warns(tmp_path: Path, cxr_csv) -> None:
    good = list(csv.DictReader(open(cxr_csv(per_label=1, labels=("covid", "normal")))))
    rows = [[r["path"], r["label"], ""] for r in good] + [[good[0]["path"], "normal", "p1"]]
    report = read_labels(_csv(tmp_path / "labels.csv", ["path", "label", "patient_id"], rows), CLASSES, LABEL_MAP)
    assert len({r.patient_id for r in report.rows}) == len(rows) and report.without_patient == len(good)
    assert f"WARNING: {len(good)} rows name no patient_id" in report.summary()
    assert report.to_dict()["without_patient_id"] == len(good)


def test_a_path_written_on_windows_names_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for name in ("a.png", "a_mask.png"):
        (tmp_path / "img" / name).write_bytes(b"x")
    csv_path = _csv(tmp_path / "labels.csv", ["image_path", "mask_path", "patient_id", "label"], [["img\\a.png", "img\\a_mask.png", "p1", "covid"]])
    report = read_labels(csv_path, None, need_mask=True)
    assert report.skipped == [] and report.rows[0].path == (tmp_path / "img" / "a.png").resolve()
    assert report.rows[0].mask_path == (tmp_path / "img" / "a_mask.png").resolve()


def test_split_all_is_every_row_and_records_nothing_on_a_card(tmp_path: Path) -> None:
    """``evaluate --split all``: every row of another hospital's csv is scored, whatever split it was given; no
    card figure may come from it."""
    import argparse

    from trainer.data.splits import ALL_ROWS, Split
    from trainer.evaluate_commands import _record_refusal

    rows = _random_rows(np.random.default_rng(0), 12)
    split = Split(train=rows[:8], val=rows[8:10], test=rows[10:], method="test")
    assert split.rows(ALL_ROWS) == rows
    with pytest.raises(SplitError, match="all"):
        split.rows("everything")
    base = {"record_by_view": False, "record_style_stress": False, "record_same_source": None, "calibrate": False,
            "record_lung_attention": False, "split": ALL_ROWS, "views": None, "weights": str(tmp_path)}
    assert _record_refusal(argparse.Namespace(**base)) == ""
    for flag, value in (("calibrate", True), ("record_same_source", "normal"), ("record_style_stress", True), ("record_by_view", True),
                        ("record_lung_attention", True)):
        assert "--split all" in _record_refusal(argparse.Namespace(**{**base, flag: value}))


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_csv_a_spreadsheet_wrote_with_semicolons_or_tabs_is_read(tmp_path: Path, cxr_csv, separator: str) -> None:
    good = list(csv.DictReader(open(cxr_csv(per_label=1, labels=("covid", "normal")))))
    text = "\n".join(separator.join(row) for row in [["path", "label", "patient_id"], *([r["path"], r["label"], r["patient_id"]] for r in good)])
    (tmp_path / "labels.csv").write_text(text + "\n", encoding="utf-8-sig")
    report = read_labels(tmp_path / "labels.csv", CLASSES, LABEL_MAP)
    assert report.skipped == [] and sorted(r.label for r in report.rows) == ["COVID-19", "normal"]


def test_a_full_cache_reads_a_film_again_and_gives_the_same_pixels(cxr_csv) -> None:
    paths = [Path(r["path"]) for r in csv.DictReader(open(cxr_csv(per_label=1, labels=("covid", "normal"))))]
    first = ImageCache().get(paths[0])[0]
    cache = ImageCache(max_bytes=first.nbytes)  # room for the first film only
    for path in paths:
        cache.get(path)
    assert cache.held_bytes <= first.nbytes
    for path in paths:
        again, window = cache.get(path)
        expected, expected_window = ImageCache(enabled=False).get(path)
        assert np.array_equal(again, expected) and window == expected_window


def test_packed_masks_keep_a_binary_mask_in_a_quarter_of_the_bytes_and_give_it_back_exactly() -> None:
    from trainer.data.masks import PackedMasks

    binary = (np.random.default_rng(0).random((40, 30)) > 0.5).astype(np.float32)
    soft = np.linspace(0, 1, 1200, dtype=np.float32).reshape(40, 30)
    masks = PackedMasks()
    masks[Path("a")] = binary
    masks.update({Path("b"): soft})
    assert dict.__getitem__(masks, Path("a")).nbytes == binary.nbytes // 4
    assert masks[Path("a")].dtype == np.float32 and np.array_equal(masks[Path("a")], binary)
    assert masks.get(Path("b")) is soft and masks.get(Path("c")) is None and Path("a") in masks
