"""The cascade decides like the other radiograph models: COVID-19 when p(COVID-19) reaches the threshold
``trainer audit-cascade --write`` chose for these two stages; below it the paper's rule; without a point (or
with one chosen for other stages) the paper's rule alone."""
from __future__ import annotations

from typing import Any

import pytest

from covidviewer.inference.cascade_result import RULE, cascade_calibration
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.models.calibration import OperatingPoint
from covidviewer.models.cascade import CLASSES, PARTS

POINT = OperatingPoint("COVID-19", 0.16, 0.8, 0.7, 0.80, 0.88)


def _cascade(probabilities: tuple[float, ...], label: str, calibrated: bool = True) -> tuple[ModelResult, list[ModelResult]]:
    stages = [ModelResult(model=m, status=STATUS_OK, calibrated=calibrated, ood_score=1.0) for m in ("seme_resnet50", "seme_densenet169")]
    result = ModelResult(model="cascade_semenet", status=STATUS_OK, classes=CLASSES,
                         probabilities=dict(zip(CLASSES, probabilities)), label=label)
    return result, stages


@pytest.mark.parametrize(("probabilities", "label", "decision", "says"), [
    # stage 1 says normal, but p(viral) x p(COVID-19 | viral) = 0.35 reaches the threshold
    ((0.50, 0.05, 0.10, 0.35), "normal", "COVID-19", "COVID-19 p 0.35 \u2265 operating threshold 0.16"),
    # below the threshold the paper's rule stands, and the text says both
    ((0.80, 0.05, 0.05, 0.10), "normal", "normal", f"COVID-19 p 0.10 < operating threshold 0.16 (validation: sensitivity 0.80 for a 0.80 target, specificity 0.88); {RULE}"),
    # the rule says COVID-19 below the threshold: the most probable other class
    ((0.70, 0.10, 0.08, 0.12), "COVID-19", "normal", "most probable other class"),
])
def test_the_threshold_decides_and_the_papers_rule_below_it(probabilities: tuple[float, ...], label: str, decision: str, says: str) -> None:
    result, stages = _cascade(probabilities, label)
    cascade_calibration(result, stages, POINT)
    assert result.label == label, "the paper's label is kept beside the decision"
    assert result.decision == decision and says in result.threshold


def test_without_a_point_or_calibration_the_papers_rule_alone() -> None:
    result, stages = _cascade((0.50, 0.05, 0.10, 0.35), "normal")
    cascade_calibration(result, stages, None)
    assert (result.decision, result.threshold) == ("normal", RULE)
    result, stages = _cascade((0.50, 0.05, 0.10, 0.35), "normal", calibrated=False)
    cascade_calibration(result, stages, POINT)
    assert (result.decision, result.threshold, result.calibrated) == ("normal", "", False)


def test_a_written_point_holds_for_the_stages_it_was_chosen_with_only(tiny_weights: Any) -> None:
    from covidviewer.inference.network_result import cascade_operating_point
    from covidviewer.inference.store import LoadedModel
    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256, load_trained_model
    from trainer.audit_cascade import part_weights, write_operating_point

    for part in PARTS.values():
        tiny_weights(part)
    loaded = LoadedModel(load_trained_model("cascade_semenet"), get_spec("cascade_semenet"),
                         installed_weights_sha256("cascade_semenet"), "cpu")
    assert cascade_operating_point(loaded) is None  # nothing written yet
    hashes = part_weights()
    report = {"operating_point": dict(vars(POINT)), "stage_weights": hashes, "split": "test"}
    write_operating_point(report)
    assert cascade_operating_point(loaded) == POINT
    write_operating_point({**report, "stage_weights": {**hashes, "stage1": "0" * 64}})  # chosen with another stage 1
    assert cascade_operating_point(loaded) is None
    write_operating_point({**report, "stage_weights": {**hashes, "segmenter": "0" * 64}})  # with other lungs
    assert cascade_operating_point(loaded) is None


def test_the_command_lines_summary_says_the_decision_not_the_argmax() -> None:
    from covidviewer.commands.predict_output import summary
    from covidviewer.inference.results import AnalysisResult

    result, stages = _cascade((0.50, 0.05, 0.10, 0.35), "normal")
    cascade_calibration(result, stages, POINT)
    line = summary(AnalysisResult(input="film", status="ok", models=[result]), "film")
    assert "cascade_semenet=COVID-19 (0.35, calibrated)" in line


def test_a_same_source_check_is_recorded_on_the_cascades_point_for_its_stages_only(tiny_weights: Any) -> None:
    from covidviewer.inference.network_result import cascade_operating_point
    from covidviewer.inference.store import LoadedModel
    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256, load_trained_model
    from trainer.audit_cascade import part_weights, record_same_source, write_operating_point

    for part in PARTS.values():
        tiny_weights(part)
    loaded = LoadedModel(load_trained_model("cascade_semenet"), get_spec("cascade_semenet"),
                         installed_weights_sha256("cascade_semenet"), "cpu")
    hashes = part_weights()
    check = {"sources": {"ieee8023": {"normal": 13, "COVID-19": 300}}, "threshold": POINT.threshold,
             "point": {"auc_normal_vs_covid": 0.94, "normal_called_covid_at_threshold": 3 / 13}, "ci95": {}}
    audited = {"soft": {"same_source": check}, "audited_split": "train"}
    with pytest.raises(ValueError, match="no operating point for these parts"):
        record_same_source({**audited, "stage_weights": hashes})  # nothing written yet
    write_operating_point({"operating_point": dict(vars(POINT)), "stage_weights": hashes, "split": "test"})
    with pytest.raises(ValueError, match="no operating point for these parts"):
        record_same_source({**audited, "stage_weights": {**hashes, "stage1": "0" * 64}})
    record_same_source({**audited, "stage_weights": hashes})
    point = cascade_operating_point(loaded)
    assert point.threshold == POINT.threshold and point.same_source["split"] == "train"
    assert "calls 3 COVID-19" in point.caveats()[0]


@pytest.mark.parametrize(("stage_labels", "label", "decision", "shown"), [
    # the threshold overrules the paper's "normal" with stage 2's own COVID-19: stage 2's map
    (("normal", "COVID-19"), "normal", "COVID-19", ("seme_densenet169", "COVID-19")),
    # no threshold at work: the paper's rule's stage, as before
    (("normal", "COVID-19"), "normal", "normal", ("seme_resnet50", "normal")),
    (("viral pneumonia", "COVID-19"), "COVID-19", "COVID-19", ("seme_densenet169", "COVID-19")),
    # the threshold says COVID-19 where stage 2 said otherwise: no stage explains it; the rule's stage and label
    (("viral pneumonia", "viral pneumonia (non-COVID)"), "viral pneumonia (non-COVID)", "COVID-19",
     ("seme_densenet169", "viral pneumonia (non-COVID)")),
])
def test_the_map_comes_from_the_stage_that_gave_the_answer(stage_labels, label: str, decision: str, shown) -> None:
    from covidviewer.inference.cascade_result import map_stage

    stages = [ModelResult(model=m, status=STATUS_OK, label=sl) for m, sl in zip(("seme_resnet50", "seme_densenet169"), stage_labels)]
    result = ModelResult(model="cascade_semenet", status=STATUS_OK, classes=CLASSES, label=label, decision=decision)
    stage, explained = map_stage(result, stages, CLASSES)
    assert (stage.model, explained) == shown


def test_the_cascades_own_erased_chest_figure_stands_for_its_stages(tiny_weights: Any) -> None:
    """Session 46: stage 2 alone tells COVID-19 from other viral pneumonia with the chest erased; the cascade's answer
    carries the whole cascade's figure (audit-cascade --record-lungs-erased) instead, recorded for its parts only."""
    import numpy as np

    from covidviewer.card_checks import READS
    from covidviewer.inference.cascade_result import cascade_result
    from covidviewer.inference.runner import RunOptions
    from covidviewer.inference.store import LoadedModel
    from covidviewer.models import get_spec
    from covidviewer.models.weights import installed_weights_sha256, load_trained_model
    from trainer.audit_cascade import part_weights, record_cascade_lungs_erased, write_operating_point

    for part in PARTS.values():
        tiny_weights(part)
    loaded = LoadedModel(load_trained_model("cascade_semenet"), get_spec("cascade_semenet"),
                         installed_weights_sha256("cascade_semenet"), "cpu")
    hashes = part_weights()
    specs = [get_spec(PARTS["stage1"]), get_spec(PARTS["stage2"])]
    logits = [np.array([0.1, 0.2, 2.0], np.float32), np.array([1.5, 0.1], np.float32)]

    def answer() -> list[str]:
        stages = [ModelResult(model=s.name, status=STATUS_OK, calibrated=True, ood_score=1.0) for s in specs]
        stages[0].warnings = ["where it looks: its maps lie in the lungs no more than elsewhere"]
        stages[1].warnings = [f"{READS}: with the chest erased stage 2 alone tells COVID-19 from other viral pneumonia"]
        return cascade_result(loaded, stages, logits, specs, RunOptions(method="none"), {}).warnings

    beyond = {"point": {"auc_as_sent": 0.9, "auc_lungs_erased": 0.7, "adult_auc_as_sent": 0.96, "adult_auc_lungs_erased": 0.72},
              "ci95": {"adult_auc_lungs_erased": [0.61, 0.83]}}
    write_operating_point({"operating_point": dict(vars(POINT)), "stage_weights": hashes, "split": "test"})
    assert any(w.startswith(f"{specs[1].name}: {READS}") for w in answer())  # no record of its own: its stage's
    with pytest.raises(ValueError, match="no operating point for these parts"):
        record_cascade_lungs_erased({**beyond, "stage_weights": {**hashes, "stage1": "0" * 64}})
    record_cascade_lungs_erased({**beyond, "stage_weights": hashes})
    warnings = answer()
    assert warnings[0].startswith(f"{READS}: with the chest erased from its validation films")
    assert "adult COVID-19 films from adult normal ones with AUC 0.72 [0.61, 0.83] (0.96 as sent" in warnings[0]
    assert not any(w.startswith(f"{specs[1].name}: {READS}") for w in warnings)
    assert f"{specs[0].name}: where it looks: its maps lie in the lungs no more than elsewhere" in warnings
    record_cascade_lungs_erased({**beyond, "ci95": {"adult_auc_lungs_erased": [0.49, 0.83]}, "stage_weights": hashes})
    assert not any(READS in w for w in answer())  # its own figure within chance: neither its nor stage 2's
