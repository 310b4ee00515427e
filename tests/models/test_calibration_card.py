"""The card's Calibration: temperature, decision with its threshold, OOD score, strict (de)serialisation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from covidviewer.models.calibration import (
    ARRAYS_FILE,
    Calibration,
    CalibrationError,
    OODModel,
    OperatingPoint,
    read_calibration,
)

CLASSES = ("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia")


def _ood(dim: int = 6) -> OODModel:
    projection = np.eye(dim)[:, :2]
    return OODModel(np.zeros(dim), projection, ("COVID-19", "normal"), np.array([[0.0, 0.0], [4.0, 0.0]]),
                    np.eye(2), threshold=3.0, validation_flag_rate=0.01)


def _calibration() -> Calibration:
    op = OperatingPoint("COVID-19", 0.3, 0.8, 0.7, sensitivity=0.82, specificity=0.76)
    return Calibration(CLASSES, 2.0, operating_point=op, ood=_ood(), ece_before=0.2, ece_after=0.05, n_validation=100)


def test_temperature_flattens_and_round_trips_to_the_logits() -> None:
    cal = Calibration(CLASSES, 2.0)
    logits = np.array([3.0, 1.0, 0.0, -1.0])
    p = cal.apply_temperature(logits)
    assert p.sum() == pytest.approx(1.0)
    assert p.max() < Calibration(CLASSES, 1.0).apply_temperature(logits).max()
    recovered = np.log(p) * 2.0
    assert recovered - recovered[0] == pytest.approx(logits - logits[0])
    binary = Calibration(("non-COVID", "COVID-19"), 2.0, output="sigmoid").apply_temperature(np.array([2.0]))
    assert binary == pytest.approx([1 - 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-1.0))])


def test_decision_names_the_threshold_that_made_it() -> None:
    cal = _calibration()
    label, text = cal.decision({"COVID-19": 0.35, "normal": 0.5, "bacterial pneumonia": 0.1, "viral pneumonia": 0.05})
    assert label == "COVID-19" and "0.30" in text and "\u2265" in text and "sensitivity 0.82" in text
    label, text = cal.decision(np.array([0.25, 0.2, 0.1, 0.45]))
    assert label == "viral pneumonia" and "< operating threshold 0.30" in text
    assert Calibration(CLASSES, 1.0).decision([0.1, 0.6, 0.2, 0.1])[0] == "normal"


def test_a_covid_answer_says_whom_the_specificity_was_measured_against_and_what_else_reaches_it() -> None:
    from dataclasses import replace

    note = "chosen on adult validation films: COVID-19 against adult normal films; at this threshold 37% of adult non-COVID pneumonia films are called COVID-19"
    point = replace(_calibration().operating_point, note=note)
    label, text = point.decide({"COVID-19": 0.35, "normal": 0.5, "bacterial pneumonia": 0.1, "viral pneumonia": 0.05})
    assert label == "COVID-19" and text.endswith(note)
    label, text = point.decide({"COVID-19": 0.1, "normal": 0.7, "bacterial pneumonia": 0.1, "viral pneumonia": 0.1})
    assert label == "normal" and note not in text  # below the threshold the caveat does not apply


def test_ood_score_is_the_distance_to_the_nearest_mean() -> None:
    cal = _calibration()
    assert cal.ood_score(np.array([4.0, 1.0, 9, 9, 9, 9])) == pytest.approx(1.0)  # off-projection axes ignored
    assert cal.ood_flag(cal.ood_score(np.array([2.0, 5.0, 0, 0, 0, 0])))
    with pytest.raises(CalibrationError, match="expects"):
        cal.ood_score(np.zeros(5))


def test_to_dict_round_trips_through_json_inline_and_with_a_file(tmp_path) -> None:
    cal = _calibration()
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.operating_point == cal.operating_point and again.classes == cal.classes
    assert np.array_equal(again.ood.precision, cal.ood.precision)
    card = cal.write_card(tmp_path)
    assert card["ood"]["arrays"] == ARRAYS_FILE and "precision" not in card["ood"]
    from_file = Calibration.from_dict(json.loads(json.dumps(card)), tmp_path)
    assert from_file.ood.group_names == cal.ood.group_names and from_file.ood.threshold == 3.0
    (tmp_path / ARRAYS_FILE).write_bytes(b"tampered")
    with pytest.raises(CalibrationError, match="SHA-256"):
        Calibration.from_dict(card, tmp_path)


@pytest.mark.parametrize("where", ["top", "operating_point", "ood"])
def test_unknown_keys_are_an_error_that_names_the_key(where: str) -> None:
    data = _calibration().to_dict()
    (data if where == "top" else data[where])["temprature"] = 1.0
    with pytest.raises(CalibrationError, match="temprature"):
        Calibration.from_dict(data)


def test_thresholds_are_read_from_a_card(tmp_path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"format": "covidviewer-weights"}))
    assert read_calibration(tmp_path) is None
    cal = _calibration()
    (tmp_path / "model.json").write_text(json.dumps({"format": "covidviewer-weights", "calibration": cal.write_card(tmp_path)}))
    read = read_calibration(tmp_path, CLASSES)
    assert read.operating_point.threshold == 0.3 and read.temperature == 2.0 and read.ece_after == 0.05
    with pytest.raises(CalibrationError, match="classes"):
        read_calibration(tmp_path, ("normal", "COVID-19"))


def test_invalid_values_are_refused() -> None:
    with pytest.raises(CalibrationError, match="temperature"):
        Calibration(CLASSES, 0.0)
    with pytest.raises(CalibrationError, match="operating point"):
        Calibration(CLASSES, 1.0, operating_point=OperatingPoint("covid", 0.5, 0.8, 0.7, 0.8, 0.8))
