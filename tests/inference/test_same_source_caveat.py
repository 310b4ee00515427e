"""A COVID-19 answer carries its model's same-source check when the check recorded on the card misses the
bars for unseen hospitals (covidviewer.models.same_source): in a plain model's result and in the cascade's."""
from __future__ import annotations

import json

import numpy as np
import pytest

from covidviewer.inference.calibrated import apply_calibration
from covidviewer.inference.cascade_result import cascade_calibration
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.models.calibration import Calibration, OperatingPoint
from covidviewer.models.cascade import CLASSES
from covidviewer.models.same_source import same_source_caveat


def check(normals: int, share: float | None, auc: float | None = 0.90, split: str = "train") -> dict:
    """A same-source check as the trainer records it: ``normals`` split over two sources."""
    point = {"normal_called_covid": 0.0}
    if share is not None:
        point["normal_called_covid_at_threshold"] = share
    if auc is not None:
        point["auc_normal_vs_covid"] = auc
    first = normals // 2
    return {"sources": {"Figure1": {"normal": first, "COVID-19": 30}, "ieee8023": {"normal": normals - first, "COVID-19": 300}},
            "threshold": 0.15, "point": point, "ci95": {}, "split": split}


@pytest.mark.parametrize(("recorded", "warns", "says"), [
    (None, False, ""),
    (check(13, 7 / 13, 0.81), True, "of 13 normal films from the hospitals of its COVID-19 films (training films, which it "
                                    "learnt as normal), this model calls 7 COVID-19 at this threshold (within-source AUC 0.81"),
    (check(13, 3 / 13), True, "calls 3 COVID-19 at this threshold (within-source AUC 0.90"),  # share over the 20% bar
    (check(13, 1 / 13, 0.80), True, "calls 1 COVID-19"),  # the AUC under its 0.85 bar alone
    (check(13, 1 / 13, 0.90), False, ""),  # both bars met
    (check(4, 3 / 4, 0.50), False, ""),  # too few normals to judge: one film moves the share by 25 points
    ({"skipped": "no source holds both"}, False, ""),
])
def test_the_caveat_follows_the_bars(recorded, warns: bool, says: str) -> None:
    text = same_source_caveat(recorded, "COVID-19")
    assert bool(text) == warns and says in text


def _calibration(recorded: dict | None) -> Calibration:
    point = OperatingPoint("COVID-19", 0.15, 0.8, 0.7, 0.80, 0.95, note="against adult normal films", same_source=recorded)
    return Calibration(("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia"), 1.0, operating_point=point)


@pytest.mark.parametrize(("logits", "warned"), [((1.0, 1.2, 0.0, 0.0), True), ((-3.0, 2.0, 0.0, 0.0), False)])
def test_a_plain_models_covid_answer_warns_and_another_answer_does_not(logits, warned: bool) -> None:
    result = ModelResult(model="dpn92_se", status=STATUS_OK)
    apply_calibration(result, np.array(logits), _calibration(check(13, 7 / 13, 0.81)))
    assert (result.decision == "COVID-19") == warned
    assert any("shortcut audit" in w for w in result.warnings) == warned


def test_no_record_or_a_passing_one_adds_nothing() -> None:
    for recorded in (None, check(13, 1 / 13)):
        result = ModelResult(model="dpn92_se", status=STATUS_OK)
        apply_calibration(result, np.array((2.0, 0.0, 0.0, 0.0)), _calibration(recorded))
        assert result.decision == "COVID-19" and result.warnings == []


def test_the_record_travels_on_the_card_and_back() -> None:
    cal = _calibration(check(13, 7 / 13, 0.81))
    again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.operating_point == cal.operating_point and again.operating_point.caveats()


def test_the_cascades_covid_answer_warns_by_its_own_point() -> None:
    point = OperatingPoint("COVID-19", 0.20, 0.8, 0.7, 0.80, 0.92, same_source=check(13, 3 / 13, 0.94))
    stages = [ModelResult(model=m, status=STATUS_OK, calibrated=True, ood_score=1.0) for m in ("seme_resnet50", "seme_densenet169")]
    result = ModelResult(model="cascade_semenet", status=STATUS_OK, classes=CLASSES,
                         probabilities=dict(zip(CLASSES, (0.50, 0.05, 0.10, 0.35))), label="normal")
    cascade_calibration(result, stages, point)
    assert result.decision == "COVID-19" and any("calls 3 COVID-19" in w for w in result.warnings)


def test_the_command_lines_summary_points_to_the_warning() -> None:
    from covidviewer.commands.predict_output import summary
    from covidviewer.inference.results import AnalysisResult

    result = ModelResult(model="dpn92_se", status=STATUS_OK)
    apply_calibration(result, np.array((1.0, 1.2, 0.0, 0.0)), _calibration(check(13, 7 / 13, 0.81)))
    line = summary(AnalysisResult(input="film", status="ok", models=[result]), "film")
    assert "dpn92_se=COVID-19 (" in line and "calibrated; 1 warning in its JSON)" in line


def pneumonia_check(films: int, share: float, auc: float, split: str = "val") -> dict:
    """The pneumonia check as the trainer records it (ieee8023's bacterial and viral films)."""
    return {"negative": "pneumonia", "sources": {"ieee8023": {"pneumonia": films, "COVID-19": 44}}, "negative_patients": 6, "threshold": 0.15,
            "point": {"pneumonia_called_covid_at_threshold": share, "auc_pneumonia_vs_covid": auc}, "ci95": {}, "split": split}


@pytest.mark.parametrize(("recorded", "says"), [
    (pneumonia_check(11, 7 / 11, 0.62), "of 11 non-COVID pneumonia films of 6 patients (bacterial, viral) from the "
     "collections of its COVID-19 films (val films), this model calls 7 COVID-19 at this threshold (within-source AUC 0.62, "
     "bar 0.85); its COVID-19 answer may not tell COVID-19 from another pneumonia"),
    (pneumonia_check(42, 6 / 42, 0.96), ""),  # both bars met
    (pneumonia_check(6, 5 / 6, 0.40), ""),  # too few films to judge
])
def test_the_pneumonia_caveat_follows_the_same_bars(recorded: dict, says: str) -> None:
    text = same_source_caveat(recorded, "COVID-19")
    assert bool(text) == bool(says) and says in text


def test_a_covid_answer_carries_each_check_that_misses_its_bars() -> None:
    calibration = _calibration(check(13, 7 / 13, 0.81))
    point = OperatingPoint(**{**vars(calibration.operating_point), "same_source_pneumonia": pneumonia_check(11, 7 / 11, 0.62)})
    calibration = Calibration(calibration.classes, 1.0, operating_point=point)
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again.operating_point == point  # the pneumonia record travels on the card too
    result = ModelResult(model="dpn92_se", status=STATUS_OK)
    apply_calibration(result, np.array((1.0, 1.2, 0.0, 0.0)), again)
    assert result.decision == "COVID-19"
    assert [w.split(" films")[0] for w in result.warnings if "shortcut audit" in w] == [
        "shortcut audit: of 13 normal", "shortcut audit: of 11 non-COVID pneumonia"]
