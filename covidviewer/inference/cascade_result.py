"""The cascade's one answer from its two stages (the Cascade-SEMEnet paper, covidviewer.models.cascade): the
four probabilities from the stages' temperature-scaled logits, the paper's hard label, the decision
(the cascade's own threshold on p(COVID-19) where stage 2's card holds one for these parts, else the
paper's rule) and the calibration / OOD flags of the stages. Used by the Predictor and by batch prediction."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from covidviewer.card_checks import LUNGS_ERASED_KEY, READS, erased_chest_caveat
from covidviewer.inference.calibrated import add_caveat
from covidviewer.inference.network_result import cascade_card_entry, cascade_operating_point
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.inference.runner import RunOptions, class_probabilities

if TYPE_CHECKING:
    from covidviewer.inference.store import LoadedModel
    from covidviewer.models.calibration import OperatingPoint
    from covidviewer.models.spec import ModelSpec


def cascade_result(loaded: "LoadedModel", stages: list[ModelResult], logits: list[np.ndarray], specs: list["ModelSpec"],
                   options: RunOptions, timings: dict[str, float]) -> ModelResult:
    """The cascade's result from its two stage results and their (temperature-scaled) logits; shared by
    the Predictor and batch prediction (``covidviewer.inference.batch``)."""
    import torch

    from covidviewer.models.cascade import cascade_log_probs, hard_cascade_label

    log_probs = cascade_log_probs(torch.from_numpy(logits[0])[None], torch.from_numpy(logits[1])[None])
    probs = log_probs.exp()[0].numpy()
    label = hard_cascade_label(class_probabilities(logits[0], specs[0]), class_probabilities(logits[1], specs[1]))
    spec = loaded.spec
    result = ModelResult(
        model=spec.name, status=STATUS_OK, version=spec.version, classes=tuple(spec.classes),
        probabilities=dict(zip(spec.classes, (float(p) for p in probs))), label=label,
        weights_sha256=loaded.weights_sha256, device=str(loaded.device), method=options.method, stages=stages,
    )
    cascade_calibration(result, stages, cascade_operating_point(loaded))
    decisive, explained = map_stage(result, stages, spec.classes)
    if decisive.explanation is not None:
        result.explanation = replace(decisive.explanation, target_index=list(spec.classes).index(explained))
        result.explanation.details["stage"] = decisive.model
    # what the whole cascade reads with the chest erased (audit-cascade --record-lungs-erased) stands for its stages':
    # stage 2 alone tells COVID-19 from other viral pneumonia, mostly children's films, not the cascade's answer
    entry = cascade_card_entry(spec, loaded.weights_sha256) or {}
    own = LUNGS_ERASED_KEY in entry
    caveat = erased_chest_caveat(entry)
    result.warnings.extend([caveat] if caveat else [])
    for stage in stages:
        result.warnings.extend(f"{stage.model}: {w}" for w in stage.warnings if not (own and w.startswith(f"{READS}:")))
        for k, v in stage.timings.items():
            timings[f"{stage.model}.{k}"] = v
    result.timings = timings
    return result


RULE = "cascade rule: stage 1, then stage 2 for viral cases"


def map_stage(result: ModelResult, stages: list[ModelResult], classes: tuple[str, ...]) -> tuple[ModelResult, str]:
    """(the stage whose map the cascade shows, the class it explains): the stage whose own answer is the
    cascade's answer, so that a COVID-19 answer by the threshold shows stage 2's COVID-19 map rather than
    stage 1's "normal" one; where no stage gave that answer, the stage of the paper's rule and its label."""
    answer = result.answer
    if answer in classes[2:] and stages[1].label == answer:
        return stages[1], answer
    if answer == stages[0].label:
        return stages[0], answer
    return (stages[1] if result.label in classes[2:] else stages[0]), result.label


def cascade_calibration(result: ModelResult, stages: list[ModelResult], point: "OperatingPoint | None" = None) -> None:
    """The cascade is calibrated when every stage is (its probabilities come from the stages'
    temperature-scaled logits); flagged when any stage is; its OOD score is stage 1's (every input
    passes stage 1). Its decision: COVID-19 when p(COVID-19) reaches ``point``'s threshold (chosen like the
    other radiograph models', for 0.80 sensitivity on adult validation films), else the paper's hard rule
    (or, where that rule says COVID-19, the most probable other class)."""
    result.calibrated = all(s.calibrated for s in stages)
    result.ood_score = stages[0].ood_score
    result.ood_flag = any(s.ood_flag for s in stages)
    result.decision = result.label
    result.threshold = RULE if result.calibrated else ""
    if result.calibrated and point is not None and point.threshold is not None:
        result.decision, how = point.decide(result.probabilities, otherwise=result.label)
        by_rule = result.decision == result.label != point.class_name  # below the threshold, the paper's rule kept
        result.threshold = f"{how}; {RULE}" if by_rule else how
        add_caveat(result, point)
