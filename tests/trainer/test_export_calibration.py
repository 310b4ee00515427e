"""Export writes calibration (temperature, COVID-19 operating point, OOD model with flag rates) and
the shortcut audit at that operating point into the card, and the app reads them back."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from covidviewer.models.calibration import read_calibration
from trainer.config import load_recipe
from trainer.export import export_run
from trainer.export_calibration import allowed_of
from trainer.data.labels import Row
from trainer.run import fit


def test_allowed_matrix_marks_every_class_of_a_coarse_label() -> None:
    rows = [Row(Path("a"), "normal", 1, "p", targets=(1,)), Row(Path("b"), "pneumonia", 2, "q", targets=(2, 3))]
    np.testing.assert_array_equal(allowed_of(rows, 4), [[0, 1, 0, 0], [0, 0, 1, 1]])


def test_export_puts_calibration_ood_and_audit_in_the_card(generated_csv, tmp_path: Path, capsys) -> None:
    csv_path = generated_csv(("normal", "bacterial", "covid"), 8, with_masks=True)
    other = generated_csv(("normal",), 4, with_masks=True, name="other_kind")
    recipe = load_recipe("vgg16_ga", overrides=["size=64", "train.batch_size=4", "train.max_steps_per_epoch=2", "data.child_sources=[\"Kermany\"]", "data.val_fraction=0.3"], epochs=1)
    fit("vgg16_ga", csv_path, tmp_path / "run", recipe, device="cpu", progress=False)
    dest = tmp_path / "weights"
    export_run(tmp_path / "run", dest, attention=False, other_kind_csv=other)  # default bootstrap: evaluate reproduces it
    card = json.loads((dest / "model.json").read_text())
    assert {"temperature", "ood"} <= set(card["calibration"])
    assert card["metrics"]["calibration"]["ece_after"] <= card["metrics"]["calibration"]["ece_before"] + 1e-9
    rates = card["calibration"]["ood"]["flag_rates"]
    assert any(name.startswith("other kind") for name in rates) and any(name.startswith("validation") for name in rates)
    assert "adult" in card["metrics"]["audit"] and "source_probe" in card["metrics"]["audit"]
    assert "chosen on adult validation films: COVID-19 against adult normal films" in card["calibration"]["operating_point"]["note"]
    calibration = read_calibration(dest, card["spec"]["classes"])
    assert calibration is not None and calibration.temperature > 0 and (dest / "reliability.png").is_file()

    # an exported set can be (re)calibrated in place: its validation figures are reproduced first
    from covidviewer.models.weights import weights_sha256
    from trainer.__main__ import main

    (dest / "calibration.npz").unlink()
    # a same-source check recorded on the old operating point does not carry over to the new one
    card["calibration"]["operating_point"]["same_source"] = {"split": "train", "sources": {}, "point": {}}
    card["calibration"]["operating_point"]["same_source_pneumonia"] = {"negative": "pneumonia", "split": "val", "sources": {}, "point": {}}
    (dest / "model.json").write_text(json.dumps(card))
    before = weights_sha256(dest)
    capsys.readouterr()
    assert main(["evaluate", "vgg16_ga", "--weights", str(dest), "--data", str(csv_path), "--calibrate"]) == 0
    assert (dest / "calibration.npz").is_file() and weights_sha256(dest) == before
    recalibrated = read_calibration(dest, card["spec"]["classes"])
    assert recalibrated is not None
    said = capsys.readouterr().out
    assert "same-source check (normal films) recorded on the old operating point was dropped" in said
    assert "--split train --record-same-source normal`" in said  # each check with the split it was recorded from
    assert "--split val --record-same-source pneumonia`" in said
    point = recalibrated.operating_point
    assert point is None or (point.same_source is None and point.same_source_pneumonia is None)

    # another hospital's films: every row scored at the card's threshold, and no card changes
    capsys.readouterr()
    assert main(["evaluate", "vgg16_ga", "--weights", str(dest), "--data", str(csv_path), "--split", "all",
                 "--out", str(tmp_path / "all")]) == 0
    said = capsys.readouterr().out
    assert "on every row of the csvs (24 images)" in said
    assert "the app's input gate would refuse" in said or "input gate: not checked" in said  # generated films: asked
    assert len((tmp_path / "all" / "predictions.csv").read_text().strip().splitlines()) == 1 + 24
    assert main(["evaluate", "vgg16_ga", "--weights", str(dest), "--data", str(csv_path), "--split", "all", "--calibrate"]) == 2
    assert weights_sha256(dest) == before

    # --set changes the recipe the network was trained with (its split: 30% validation), not the packaged one
    capsys.readouterr()
    assert main(["evaluate", "vgg16_ga", "--weights", str(dest), "--data", str(csv_path), "--split", "val",
                 "--set", 'data.kind_check="off"']) == 0
    assert "matches the validation metrics" in capsys.readouterr().out


def test_the_operating_point_is_chosen_on_adult_covid_against_adult_normal_films() -> None:
    from trainer.export_calibration import adult_operating_point

    classes = ("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia")
    p_covid = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.1, 0.2, 0.3, 0.05, 0.65, 0.7, 0.95])
    allowed = np.zeros((12, 4), bool)
    allowed[:5, 0] = True  # adult COVID-19
    allowed[5:9, 1] = True  # adult normals (and the last of them a child)
    allowed[9:11, 2:4] = True  # adult pneumonia, cause unknown: a set
    allowed[11, 1] = True  # a child's normal film the model calls COVID-19: not in the adult choice
    adult = np.ones(12, bool)
    adult[11] = False
    prob = np.stack([p_covid, 1 - p_covid, np.zeros(12), np.zeros(12)], axis=1)
    point = adult_operating_point(prob, allowed, adult, classes)
    assert point.threshold == pytest.approx(0.6)  # 4 of 5 adult COVID-19 films: sensitivity 0.80
    assert point.specificity == 1.0 and "against adult normal films" in point.note
    assert "100% of adult non-COVID pneumonia" in point.note  # 0.65 and 0.7 are above it
    assert adult_operating_point(prob, allowed, np.zeros(12, bool), classes) is None
