"""The same-source check: adult normal vs COVID-19 films of one collection, pairs never formed across sources,
so a model that reads the hospital fails it even when it passes the pooled adult figures."""
from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.audit import audit_summary, shortcut_audit
from trainer.same_source_check import within_source_auc

from audit_rows import CLASSES, IEEE, KERMANY, NIH, RSNA, audit_rows as _rows

FIGURE1 = "agchung/Figure1-COVID-chestxray-dataset"


def _prob_covid(p: list[float]) -> np.ndarray:
    """4-class probabilities whose p(COVID-19) is p and whose rest is normal."""
    p = np.asarray(p, float)
    return np.stack([p, 1 - p, np.zeros_like(p), np.zeros_like(p)], 1)


def test_pairs_are_formed_within_a_source_only() -> None:
    # source a: covid 0.9 above normal 0.8; source b: covid 0.3 above normal 0.2; across, b's covid is below a's normal
    is_covid = np.array([True, False, True, False])
    score = np.array([0.9, 0.8, 0.3, 0.2])
    sources = np.array(["a", "a", "b", "b"])
    assert within_source_auc(is_covid, score, sources) == 1.0
    assert within_source_auc(is_covid, score, np.array(["a"] * 4)) == pytest.approx(0.75)  # pooled: one pair wrong
    assert np.isnan(within_source_auc(is_covid, score, np.array(["a", "b", "c", "d"])))


def test_a_model_that_reads_the_hospital_passes_the_pooled_check_and_fails_this_one() -> None:
    # every ieee8023 film scores high and every NIH/RSNA film low, whatever its label
    rows = _rows([(IEEE, "COVID-19", (0,), 20), (IEEE, "normal", (1,), 10), (FIGURE1, "COVID-19", (0,), 5),
                  (RSNA, "normal", (1,), 20), (NIH, "normal", (1,), 20), (KERMANY, "normal", (1,), 10)])
    p = [0.9] * 20 + [0.9] * 10 + [0.9] * 5 + [0.05] * 40 + [0.05] * 10
    audit = shortcut_audit(_prob_covid(p), None, CLASSES, rows, threshold=0.5, n_boot=50)
    json.dumps(audit, allow_nan=False)
    assert audit["adult"]["point"]["auc_normal_vs_covid"] == pytest.approx(0.9)  # pooled: 40 of 50 normals below, 10 tied
    same = audit["same_source"]
    assert same["sources"] == {"ieee8023": {"normal": 10, "COVID-19": 20}}  # Figure1 holds no normal film here
    assert same["point"]["auc_normal_vs_covid"] == 0.5  # all ties within ieee8023
    assert same["point"]["normal_called_covid_at_threshold"] == 1.0
    assert any("read the hospital" in f for f in audit["flags"])
    assert any("Within one source" in f for f in audit["flags"])
    text = audit_summary(audit)
    assert "same source" in text and "ieee8023: 10 normal, 20 COVID-19" in text


def test_a_model_that_reads_the_lungs_passes_it() -> None:
    rows = _rows([(IEEE, "COVID-19", (0,), 20), (IEEE, "normal", (1,), 10), (FIGURE1, "COVID-19", (0,), 4),
                  (FIGURE1, "normal", (1,), 3), (RSNA, "normal", (1,), 20)])
    p = [0.8] * 20 + [0.1] * 10 + [0.7] * 4 + [0.2] * 3 + [0.1] * 20
    audit = shortcut_audit(_prob_covid(p), None, CLASSES, rows, threshold=0.5, n_boot=50)
    same = audit["same_source"]
    assert set(same["sources"]) == {"ieee8023", "Figure1"}
    assert same["point"]["auc_normal_vs_covid"] == 1.0
    assert same["point"]["normal_called_covid_at_threshold"] == 0.0
    assert same["point"]["covid_sensitivity_at_threshold"] == 1.0
    assert not [f for f in audit["flags"] if "same source" in f or "Within one source" in f or "read the hospital" in f]


def test_too_few_normal_films_are_reported_but_not_flagged() -> None:
    rows = _rows([(IEEE, "COVID-19", (0,), 20), (IEEE, "normal", (1,), 4), (RSNA, "normal", (1,), 20)])
    audit = shortcut_audit(_prob_covid([0.9] * 24 + [0.05] * 20), None, CLASSES, rows, threshold=0.5, n_boot=20)
    assert audit["same_source"]["point"]["normal_called_covid_at_threshold"] == 1.0
    assert not [f for f in audit["flags"] if "read the hospital" in f or "Within one source" in f]


def test_skipped_without_a_source_holding_both_or_a_normal_class() -> None:
    rows = _rows([(IEEE, "COVID-19", (0,), 5), (RSNA, "normal", (1,), 5)])
    audit = shortcut_audit(_prob_covid([0.9] * 5 + [0.1] * 5), None, CLASSES, rows, n_boot=20)
    assert "skipped" in audit["same_source"]
    assert "same source, normal: skipped" in audit_summary(audit)
    assert "same source, non-COVID pneumonia: skipped (no source holds both adult non-COVID pneumonia" in audit_summary(audit)
    two = ("COVID-19", "non-COVID")
    prob = np.array([[0.9, 0.1]] * 5 + [[0.1, 0.9]] * 5)
    audit = shortcut_audit(prob, None, two, _rows([(IEEE, "COVID-19", (0,), 5), (IEEE, "non-COVID", (1,), 5)]), n_boot=20)
    assert "no COVID-19 and normal classes" in audit["same_source"]["skipped"]


def test_an_audit_written_before_the_check_still_reads() -> None:
    rows = _rows([(IEEE, "COVID-19", (0,), 5), (RSNA, "normal", (1,), 5)])
    audit = shortcut_audit(_prob_covid([0.9] * 5 + [0.1] * 5), None, CLASSES, rows, n_boot=20)
    del audit["same_source"], audit["same_source_pneumonia"]
    assert "same source" not in audit_summary(audit)


def _hospital_reader_check(threshold: float = 0.5) -> dict:
    """The same-source check of a model that reads the hospital (every ieee8023 film scores high)."""
    rows = _rows([(IEEE, "COVID-19", (0,), 20), (IEEE, "normal", (1,), 10), (RSNA, "normal", (1,), 20)])
    return shortcut_audit(_prob_covid([0.9] * 30 + [0.05] * 20), None, CLASSES, rows, threshold=threshold, n_boot=20)["same_source"]


def _card(folder, threshold: float = 0.5):
    from covidviewer.models.calibration import Calibration, OperatingPoint

    point = OperatingPoint("COVID-19", threshold, 0.8, 0.7, 0.8, 0.9)
    card = {"format": "covidviewer-weights", "calibration": Calibration(CLASSES, 1.0, operating_point=point).to_dict()}
    (folder / "model.json").write_text(json.dumps(card))


def test_a_check_recorded_on_a_card_reaches_the_apps_answer(tmp_path) -> None:
    from covidviewer.models.calibration import read_calibration
    from trainer.same_source_check import record_on_card

    _card(tmp_path)
    record_on_card(tmp_path, _hospital_reader_check(), "train")
    point = read_calibration(tmp_path, CLASSES).operating_point
    assert point.same_source["split"] == "train" and point.same_source["sources"]["ieee8023"]["normal"] == 10
    assert "calls 10 COVID-19" in point.caveats()[0]  # every ieee8023 normal reaches the threshold


@pytest.mark.parametrize(("check", "says"), [
    (_hospital_reader_check(threshold=0.3), "threshold 0.3, the card's operating threshold is 0.5"),
    ({"skipped": "no source holds both"}, "skipped"),
])
def test_a_check_made_at_another_threshold_or_skipped_is_not_recorded(tmp_path, check: dict, says: str) -> None:
    from trainer.same_source_check import record_on_card

    _card(tmp_path)
    before = (tmp_path / "model.json").read_text()
    with pytest.raises(ValueError, match=says):
        record_on_card(tmp_path, check, "train")
    assert (tmp_path / "model.json").read_text() == before


@pytest.mark.parametrize(("extra", "card", "says"), [
    (["--calibrate"], "with point", "which --calibrate replaces"),
    ([], "none", "no card at"),
    ([], "without point", "has none"),
])
def test_evaluate_refuses_a_record_it_could_not_make_before_evaluating(tmp_path, capsys, extra, card, says) -> None:
    """Refused up front (the evaluation takes minutes): with --calibrate the record used to be skipped silently."""
    from trainer.__main__ import main

    if card == "with point":
        _card(tmp_path)
    elif card == "without point":
        (tmp_path / "model.json").write_text(json.dumps({"format": "covidviewer-weights"}))
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    # the csv does not exist and the folder holds no weights: anything past the refusal would fail differently
    args = ["evaluate", "dpn92_se", "--weights", str(tmp_path), "--data", str(tmp_path / "absent.csv")]
    assert main([*args, "--record-same-source", *extra]) == 2
    assert says in capsys.readouterr().err
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def test_normals_of_covid_patients_are_counted_apart_from_other_patients() -> None:
    """A normal film before or after a patient's COVID-19 films (often a panel of the same figure) is counted apart:
    "calls the patient's other films COVID-19" is not "calls other patients' normals COVID-19"."""
    from audit_rows import FakeRow

    covid = [FakeRow("COVID-19", 0, f"ieee:{i}", IEEE, (0,)) for i in range(12)]
    own_normals = [FakeRow("normal", 1, f"ieee:{i}", IEEE, (1,)) for i in range(4)]  # patients 0-3 also have COVID-19 films
    other_normals = [FakeRow("normal", 1, f"ieee:n{i}", IEEE, (1,)) for i in range(8)]
    rows = covid + own_normals + other_normals
    p = [0.9] * 12 + [0.8, 0.8, 0.8, 0.1] + [0.8] + [0.1] * 7  # 3 of 4 own normals above 0.5, 1 of 8 others
    audit = shortcut_audit(_prob_covid(p), None, CLASSES, rows, threshold=0.5, n_boot=20)
    assert audit["same_source"]["by_patient"] == {"covid_patients": {"normal": 4, "called_covid": 3},
                                                  "other_patients": {"normal": 8, "called_covid": 1}}
    assert "3 of 4 earlier or later films of COVID-19 patients, 1 of 8 films of other patients" in audit_summary(audit)


def test_the_apps_warning_names_the_breakdown_when_recorded() -> None:
    from covidviewer.models.same_source import same_source_caveat

    check = {"split": "train", "sources": {"ieee8023": {"normal": 13, "COVID-19": 300}},
             "point": {"normal_called_covid_at_threshold": 7 / 13, "auc_normal_vs_covid": 0.81},
             "by_patient": {"covid_patients": {"normal": 8, "called_covid": 6}, "other_patients": {"normal": 5, "called_covid": 1}}}
    text = same_source_caveat(check, "COVID-19")
    assert "calls 7 COVID-19 at this threshold (6 of 8 earlier or later films of COVID-19 patients, " \
           "1 of 5 films of other patients; within-source AUC 0.81, bar 0.85)" in text
    older = {k: v for k, v in check.items() if k != "by_patient"}  # recorded before the breakdown
    assert "at this threshold (within-source AUC 0.81, bar 0.85)" in same_source_caveat(older, "COVID-19")


def test_the_pneumonia_check_sets_covid_against_other_pneumonias_of_the_same_collection() -> None:
    """A model that reads the hospital looks fine on the pooled adult pneumonias (NIH's, all low) and fails here:
    ieee8023's own bacterial and viral pneumonias score as high as its COVID-19 films; flagged by the same bars."""
    rows = _rows([(IEEE, "COVID-19", (0,), 20), (IEEE, "bacterial", (2,), 6), (IEEE, "viral", (3,), 4),
                  (NIH, "pneumonia", (2, 3), 30), (IEEE, "normal", (1,), 10), (RSNA, "normal", (1,), 10)])
    p = [0.9] * 30 + [0.05] * 30 + [0.1] * 20
    audit = shortcut_audit(_prob_covid(p), None, CLASSES, rows, threshold=0.5, n_boot=20)
    json.dumps(audit, allow_nan=False)
    assert audit["adult"]["point"]["pneumonia_called_covid_at_threshold"] == pytest.approx(0.25)  # 10 of 40 pooled
    check = audit["same_source_pneumonia"]
    assert check["negative"] == "pneumonia" and "by_patient" not in check
    assert check["sources"] == {"ieee8023": {"pneumonia": 10, "COVID-19": 20}}  # NIH holds no COVID-19 film
    assert check["negative_patients"] == 10
    assert check["point"]["pneumonia_called_covid_at_threshold"] == 1.0
    assert check["point"]["auc_pneumonia_vs_covid"] == 0.5
    assert check["point"]["covid_sensitivity_at_threshold"] == 1.0
    assert audit["same_source"]["point"]["normal_called_covid_at_threshold"] == 0.0  # the normal check is untouched
    assert any("100% of adult non-COVID pneumonia films from the sources that also hold the COVID-19 films" in f
               and "may not tell COVID-19 from another pneumonia" in f for f in audit["flags"])
    assert any("separates COVID-19 from non-COVID pneumonia films with AUC 0.50" in f for f in audit["flags"])
    assert not [f for f in audit["flags"] if "read the hospital" in f]  # the normal check passes
    text = audit_summary(audit)
    assert "same source, adult non-COVID pneumonia vs COVID-19 films of one collection " \
           "(ieee8023: 10 non-COVID pneumonia, 20 COVID-19)" in text
    assert "called COVID-19 (p >= 0.50): non-COVID pneumonia 1.000" in text


@pytest.mark.parametrize(("classes", "spec", "normal_check"), [
    (("normal", "pneumonia", "COVID-19"), [(IEEE, "COVID-19", (2,), 8), (IEEE, "pneumonia", (1,), 5), (IEEE, "normal", (0,), 3)], True),
    (("COVID-19", "viral pneumonia (non-COVID)"), [(IEEE, "COVID-19", (0,), 8), (IEEE, "viral", (1,), 5)], False),
])
def test_the_pneumonia_check_reads_every_head(classes, spec, normal_check) -> None:
    """Three classes with one "pneumonia" (VGG-16-GA), or no normal class at all (the cascade's stage 2)."""
    rows = _rows(spec)
    c = classes.index("COVID-19")
    prob = np.array([[1.0 if k == c else 0.0 for k in range(len(classes))] if r.label == "COVID-19"
                     else [0.0 if k == c else 1.0 / (len(classes) - 1) for k in range(len(classes))] for r in rows])
    audit = shortcut_audit(prob, None, classes, rows, threshold=0.5, n_boot=20)
    check = audit["same_source_pneumonia"]
    assert check["sources"] == {"ieee8023": {"pneumonia": 5, "COVID-19": 8}}
    assert check["point"]["auc_pneumonia_vs_covid"] == 1.0 and check["point"]["pneumonia_called_covid"] == 0.0
    assert ("skipped" in audit["same_source"]) != normal_check


def test_the_pneumonia_check_is_recorded_beside_the_normal_one(tmp_path) -> None:
    """Each kind under its own key: recording the pneumonia check (from validation films) keeps the normal one."""
    from covidviewer.models.calibration import read_calibration
    from trainer.__main__ import build_parser
    from trainer.same_source_check import record_on_card

    _card(tmp_path)
    record_on_card(tmp_path, _hospital_reader_check(), "train")
    rows = _rows([(IEEE, "COVID-19", (0,), 20), (IEEE, "bacterial", (2,), 12), (NIH, "pneumonia", (2, 3), 10)])
    audit = shortcut_audit(_prob_covid([0.9] * 32 + [0.05] * 10), None, CLASSES, rows, threshold=0.5, n_boot=20)
    record_on_card(tmp_path, audit["same_source_pneumonia"], "val")
    point = read_calibration(tmp_path, CLASSES).operating_point
    assert point.same_source["split"] == "train" and point.same_source_pneumonia["split"] == "val"
    assert [c.split(" films")[0] for c in point.caveats()] == ["shortcut audit: of 10 normal",
                                                               "shortcut audit: of 12 non-COVID pneumonia"]
    parse = build_parser().parse_args
    common = ["evaluate", "dpn92_se", "--weights", "w", "--data", "d.csv"]
    assert parse([*common, "--record-same-source"]).record_same_source == "normal"  # as before session 22
    assert parse([*common, "--record-same-source", "pneumonia"]).record_same_source == "pneumonia"
    assert parse(common).record_same_source is None
