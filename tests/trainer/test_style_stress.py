"""Style stress test: a score that reads a film's look is flagged, one that reads the lesion is not; the shifts
are reproducible; the evaluation dataset applies a shift where augmentation applies style, and only then."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from covidviewer.imaging.preprocess import Preprocess
from trainer.data.datasets import ClassificationDataset
from trainer.data.images import ImageCache
from trainer.data.labels import Row
from trainer.style_stress import SHIFTS, StyleShift, film_rng, stress_lines, style_stress

from audit_rows import CLASSES, IEEE, KERMANY, NIH, RSNA, audit_rows


def _films(rows, look: dict[str, float]) -> list[np.ndarray]:
    """32 x 32 films: background at the source's ``look`` level, a bright 8 x 8 lesion on COVID-19 films only."""
    films = []
    for row in rows:
        film = np.full((32, 32), look[row.source], np.float32)
        if row.label == "COVID-19":
            film[12:20, 12:20] = 1.0
        films.append(film)
    return films


def _scorer(films, rows, reads):  # type: ignore[no-untyped-def]
    """score(shift) -> (N, 4) probabilities from ``reads(film)`` -> is it COVID-19?"""
    def score(shift: StyleShift | None) -> np.ndarray:
        prob = np.full((len(films), 4), 0.1)
        for i, (film, row) in enumerate(zip(films, rows)):
            shown = film if shift is None else shift.change(film, film_rng(row))
            prob[i, 0] = 0.7 if reads(shown) else 0.1
            prob[i, 1] = 0.8 - prob[i, 0]
        return prob
    return score


ROWS = audit_rows([(IEEE, "COVID-19", (0,), 12), (RSNA, "normal", (1,), 12), (NIH, "pneumonia", (2, 3), 6), (KERMANY, "normal", (1,), 6)])
LOOK = {IEEE: 0.45, RSNA: 0.25, NIH: 0.25, KERMANY: 0.25}  # COVID-19's collection sends brighter films


def test_a_score_that_reads_the_look_is_flagged_by_a_gamma_change() -> None:
    films = _films(ROWS, LOOK)
    reads_look = _scorer(films, ROWS, lambda f: float(np.median(f)) > 0.35)
    stress = style_stress(reads_look, ROWS, CLASSES, threshold=0.5, n_boot=20)
    assert stress["baseline"]["point"]["normal_called_covid_at_threshold"] == 0.0
    assert stress["baseline"]["point"]["covid_sensitivity_at_threshold"] == 1.0
    brighter = stress["shifts"]["gamma_0.67"]  # 0.25 ** 0.67 = 0.40: every normal now looks like COVID-19's hospital
    assert brighter["point"]["normal_called_covid_at_threshold"] == 1.0
    assert brighter["flips"]["normal"] == {"to_covid": 12, "from_covid": 0, "films": 12}  # the children are not scored
    assert brighter["flips"]["pneumonia"]["to_covid"] == 6
    darker = stress["shifts"]["gamma_1.5"]  # 0.45 ** 1.5 = 0.30: COVID-19 films are lost
    assert darker["flips"]["COVID-19"]["from_covid"] == 12
    flags = " ".join(stress["flags"])
    assert "mid-tones brighter (gamma 0.67): adult normals called COVID-19 0% -> 100%" in flags
    assert "mid-tones darker (gamma 1.5): COVID-19 sensitivity 100% -> 0%" in flags
    lines = "\n".join(stress_lines(stress))
    assert "style stress test on 30 adult films (at threshold 0.50)" in lines  # of the 36 rows given, 6 are children's
    assert "flipped to COVID-19: 12 normals, 6 pneumonias" in lines


def test_a_score_that_reads_the_lesion_holds_under_every_shift() -> None:
    films = _films(ROWS, LOOK)
    def centre(f: np.ndarray) -> np.ndarray:  # the lesion's place on a film of any size
        h, w = f.shape
        return f[h * 14 // 32 : h * 18 // 32, w * 14 // 32 : w * 18 // 32]

    reads_lesion = _scorer(films, ROWS, lambda f: float(centre(f).mean()) > 0.8)
    stress = style_stress(reads_lesion, ROWS, CLASSES, threshold=0.5, n_boot=20)
    assert set(stress["shifts"]) == {s.key for s in SHIFTS}
    for report in stress["shifts"].values():
        assert all(f["to_covid"] == 0 and f["from_covid"] == 0 for f in report["flips"].values()), report["words"]
    assert stress["flags"] == []


def test_without_a_threshold_the_calls_are_by_argmax_and_a_model_without_covid_is_skipped() -> None:
    films = _films(ROWS, LOOK)
    stress = style_stress(_scorer(films, ROWS, lambda f: float(np.median(f)) > 0.35), ROWS, CLASSES, threshold=None, n_boot=20)
    assert stress["shifts"]["gamma_0.67"]["point"]["normal_called_covid"] == 1.0
    assert "by argmax" in stress_lines(stress)[0]
    skipped = style_stress(lambda shift: np.zeros((1, 2)), ROWS[:1], ("normal", "pneumonia"), None)
    assert "no COVID-19 class" in skipped["skipped"]


@pytest.mark.parametrize("shift", SHIFTS, ids=lambda s: s.key)
def test_each_shift_changes_a_film_keeps_it_in_range_and_repeats(shift: StyleShift) -> None:
    film = np.random.default_rng(0).random((400, 512)).astype(np.float32) * 0.8 + 0.1
    row = ROWS[0]
    once, again = shift.change(film, film_rng(row)), shift.change(film, film_rng(row))
    assert once.min() >= 0.0 and once.max() <= 1.0
    if shift.key.startswith("size"):  # the same anatomy on a bigger grid
        assert once.shape[0] > film.shape[0] and once.shape[1] / once.shape[0] == pytest.approx(film.shape[1] / film.shape[0], rel=0.01)
    elif shift.key == "finer_levels":  # too small to see: under half an 8-bit step everywhere, yet a change
        assert once.shape == film.shape and 0 < np.abs(once - film).mean() and np.abs(once - film).max() <= 0.5 / 255 + 1e-6
    else:
        assert once.shape == film.shape and np.abs(once - film).mean() > 0.005
    assert np.array_equal(once, again)


def test_the_dataset_applies_a_shift_in_the_films_own_units_and_none_by_default(tmp_path: Path) -> None:
    import cv2

    film = (np.linspace(0, 1, 48 * 48).reshape(48, 48) * 4000).astype(np.uint16)  # a 12-bit-like ramp
    cv2.imwrite(str(tmp_path / "a.png"), film)
    row = Row((tmp_path / "a.png").resolve(), "normal", 1, "p1", "", source=RSNA)
    pp = Preprocess(kind="cxr", size=(32, 32), channels=1, mean=(0.0,), std=(1.0,), window=None, fit="stretch")
    dataset = ClassificationDataset([row], pp, ImageCache())
    plain = dataset[0]["image"]
    dataset.style_shift = lambda unit, r: 1.0 - unit  # an inversion: impossible to miss
    inverted = dataset[0]["image"]
    assert torch.corrcoef(torch.stack([plain.flatten(), inverted.flatten()]))[0, 1] < -0.99
    dataset.style_shift = None
    assert torch.equal(dataset[0]["image"], plain)


def test_restyled_changes_a_film_in_its_own_units_through_its_window() -> None:
    from trainer.style_stress import restyled, shift_by_key

    film = np.linspace(-500, 3500, 40 * 40, dtype=np.float32).reshape(40, 40)  # below and inside a (1500, 3000) window
    darker = restyled(film, (1500.0, 3000.0), shift_by_key("gamma_1.5"), ROWS[0])
    assert darker.min() == pytest.approx(0.0)  # what the window showed black stays black
    assert darker.max() == pytest.approx(3000.0)
    mid = film == film.flat[np.argmin(np.abs(film - 1500.0))]
    assert darker[mid][0] == pytest.approx(3000.0 * (((film[mid][0]) / 3000.0) ** 1.5), rel=1e-4)
    with pytest.raises(KeyError, match="known: gamma_0.67"):
        shift_by_key("sepia")


@pytest.mark.parametrize("key", ["blur_1.5", "sharpen_1.0", "noise_0.03"])
def test_a_shift_looks_alike_on_the_models_view_of_a_small_and_a_large_film(key: str) -> None:
    import cv2

    from trainer.style_stress import shift_by_key

    rng = np.random.default_rng(1)
    anatomy = cv2.resize(rng.random((128, 128)).astype(np.float32), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    anatomy = np.clip(anatomy * 0.6 + 0.2, 0, 1)
    small = cv2.resize(anatomy, (512, 512), interpolation=cv2.INTER_AREA)
    shift = shift_by_key(key)

    def change_on_view(film: np.ndarray) -> float:  # how much the shift moves the 128 px view the model would see
        view = lambda f: cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA)  # noqa: E731
        return float(np.abs(view(shift.change(film, film_rng(ROWS[0]))) - view(film)).mean())

    large_change, small_change = change_on_view(anatomy), change_on_view(small)
    assert small_change == pytest.approx(large_change, rel=0.35)


def _stress() -> dict:
    films = _films(ROWS, LOOK)
    return style_stress(_scorer(films, ROWS, lambda f: float(np.median(f)) > 0.35), ROWS, CLASSES, threshold=0.5, n_boot=20)


def test_a_recorded_test_is_on_the_card_and_its_line_in_help_about(tmp_path: Path) -> None:
    import json

    from covidviewer.model_cards import card_from_sidecar
    from trainer.style_stress import record_on_card

    (tmp_path / "model.json").write_text(json.dumps({"format": "covidviewer-weights", "shards": {}, "metrics": {"audit": {}}}))
    record_on_card(tmp_path, _stress())
    sidecar = json.loads((tmp_path / "model.json").read_text())
    assert sidecar["metrics"]["audit"] == {}  # the rest of the card is kept
    line = card_from_sidecar("x", sidecar).style_stress
    assert line.startswith("30 adult validation films, each with one change of style at a time (at threshold 0.50)")
    assert "adult normals called COVID-19 0% as sent, 0%-100% restyled (most: mid-tones brighter (gamma 0.67))" in line
    assert "COVID-19 sensitivity 1.00 as sent, 0.00-1.00 restyled" in line
    assert card_from_sidecar("x", {"shards": {}}).style_stress == ""  # not recorded: no line
    # stage 2's card also shows the cascade's test, kept on the cascade's threshold it holds
    stage2 = card_from_sidecar("x", {"shards": {}, "cascade_operating_point": {"threshold": 0.5, "style_stress": _stress()}})
    assert stage2.style_stress.startswith("Cascade-SEMEnet (its threshold is on this card): 30 adult validation films")
    size_only = {**_stress(), "shifts": {"size_3x": {**_stress()["shifts"]["size_3x"]}}}
    line = card_from_sidecar("x", {"shards": {}, "metrics": {"style_stress": size_only}}).style_stress
    assert "restyled (a bigger detector grid (the same film at 3x its size))" in line and "most:" not in line
    with pytest.raises(ValueError, match="no exported card"):
        record_on_card(tmp_path / "absent", _stress())


@pytest.mark.parametrize(("extra", "card", "says"), [
    (["--calibrate"], True, "--split val, no --calibrate"),
    (["--split", "train"], True, "--split val, no --calibrate"),
    ([], False, "no card at"),
])
def test_evaluate_refuses_a_stress_record_it_could_not_make_before_evaluating(tmp_path, capsys, extra, card, says) -> None:
    import json

    from trainer.__main__ import main

    if card:
        (tmp_path / "model.json").write_text(json.dumps({"format": "covidviewer-weights"}))
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    # the csv does not exist and the folder holds no weights: anything past the refusal would fail differently
    args = ["evaluate", "dpn92_se", "--weights", str(tmp_path), "--data", str(tmp_path / "absent.csv"), "--record-style-stress"]
    assert main([*args, *extra]) == 2
    assert says in capsys.readouterr().err
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def test_a_shift_that_changes_the_films_size_takes_its_lung_mask_along(tmp_path: Path) -> None:
    import cv2

    yy, xx = np.mgrid[0:64, 0:80]
    film = (1000 + 2000 * ((yy // 8 + xx // 8) % 2)).astype(np.uint16)  # a checkerboard: any misplaced crop shows
    cv2.imwrite(str(tmp_path / "a.png"), film)
    path = (tmp_path / "a.png").resolve()
    lung = np.zeros((64, 80), np.float32)
    lung[16:48, 20:60] = 1.0
    row = Row(path, "normal", 1, "p1", "", source=RSNA)
    pp = Preprocess(kind="cxr", size=(32, 40), channels=1, mean=(0.0,), std=(1.0,), fit="stretch", lung_crop=True, lung_crop_margin=0.0)
    dataset = ClassificationDataset([row], pp, ImageCache(), lung_masks={path: lung})
    plain = dataset[0]["image"]
    dataset.style_shift = lambda unit, r: cv2.resize(unit, (unit.shape[1] * 3, unit.shape[0] * 3), interpolation=cv2.INTER_NEAREST)
    bigger = dataset[0]["image"]  # the same film on a 3x grid: the crop lands on the same anatomy
    assert bigger.shape == plain.shape
    assert float((bigger - plain).abs().mean()) < 0.1 * float(plain.std())


def test_the_record_keeps_the_tested_films_sizes_for_the_apps_size_warning(tmp_path: Path) -> None:
    from PIL import Image

    from trainer.style_stress import film_sides

    rows = []
    for i, (w, h) in enumerate([(224, 224), (300, 250), (256, 410)]):
        path = tmp_path / f"film{i}.png"
        Image.fromarray(np.zeros((h, w), np.uint8)).save(path)
        rows.append(Row(path, "normal", 1, f"p{i}"))
    assert film_sides(rows) == {"min": 224, "median": 300, "max": 410}
    assert film_sides([*rows, Row(tmp_path / "missing.dcm", "normal", 1, "p9")]) is None
    assert film_sides([]) is None


def test_the_window_shifts_cut_or_squeeze_the_grey_range_as_another_export_window_would():
    by_key = {shift.key: shift for shift in SHIFTS}
    ramp = np.linspace(0.0, 1.0, 11, dtype=np.float32)[None, :]
    rng = np.random.default_rng(0)
    narrow = by_key["window_narrow"].change(ramp, rng)
    wide = by_key["window_wide"].change(ramp, rng)
    np.testing.assert_allclose(narrow[0, [0, 1, 5, 9, 10]], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)  # both ends clipped
    np.testing.assert_allclose(wide[0, [0, 5, 10]], [0.1, 0.5, 0.9], atol=1e-6)  # nothing clipped, less contrast
    assert narrow.dtype == wide.dtype == np.float32
