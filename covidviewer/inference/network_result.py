"""One network's ModelResult from its logits, built one way for the Predictor (one input per forward)
and for batch prediction (many inputs per forward): probabilities and label from the logits, then
the card's calibration, decision and OOD score; and which card applies to each stage of a cascade.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from covidviewer.inference.calibrated import apply_calibration, card_calibration, card_entry, card_warnings
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.inference.runner import NO_EXPLANATION, NetworkRun, RunOptions, class_probabilities

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.inference.store import LoadedModel
    from covidviewer.models.calibration import Calibration, OperatingPoint
    from covidviewer.models.spec import ModelSpec

#: the cascade's stage attributes, in the order the paper's rule reads them
CASCADE_STAGES = ("stage1", "stage2")


def network_result(loaded: "LoadedModel", spec: "ModelSpec", run: NetworkRun, options: RunOptions) -> ModelResult:
    """The uncalibrated result of one forward: class probabilities, argmax label, run details."""
    probs = class_probabilities(run.logits, spec)
    return ModelResult(
        model=spec.name,
        status=STATUS_OK,
        version=spec.version,
        classes=tuple(spec.classes),
        probabilities={c: float(p) for c, p in zip(spec.classes, probs)},
        label=spec.classes[int(np.argmax(probs))],
        weights_sha256=loaded.weights_sha256,
        device=str(loaded.device),
        method=options.method if run.explanation is not None else NO_EXPLANATION,
        timings=dict(run.timings),
        warnings=list(run.warnings),
        explanation=run.explanation,
        slice_importance=run.slice_importance,
        peak_slice=run.peak_slice,
    )


def calibrated_result(loaded: "LoadedModel", spec: "ModelSpec", run: NetworkRun, options: RunOptions,
                      calibration: "Calibration | None", problem: str, features: np.ndarray | None) -> ModelResult:
    """``network_result`` with the card's calibration applied (``features``: the input's penultimate
    features for the OOD score, or None) and the card's problem, if any, as a warning; so is a lung-attention
    record that shows the model's maps in the lungs no more than elsewhere (``calibrated.card_warnings``)."""
    result = network_result(loaded, spec, run, options)
    apply_calibration(result, run.logits, calibration, features)
    result.warnings.extend([problem] if problem else [])
    result.warnings.extend(card_warnings(spec, loaded.weights_sha256))
    return result


def installed_weights_sha(spec: "ModelSpec") -> str:
    """The set hash of ``spec``'s installed weights; "" when none are installed or it is not registered."""
    from covidviewer.models.weights import installed_weights_sha256

    try:
        return installed_weights_sha256(spec.name) or ""
    except KeyError:  # a hand-made spec that is not registered has no installed card
        return ""


@dataclass
class CascadeStage:
    """One stage network of a loaded cascade with the calibration its card gives it."""

    model: "nn.Module"
    spec: "ModelSpec"
    calibration: "Calibration | None"
    problem: str
    #: the part's installed weight set, "" unless the cascade runs the installed parts: only then does its card speak
    weights_sha256: str = ""


def runs_installed_parts(loaded: "LoadedModel") -> bool:
    """Whether a loaded cascade is the installed parts (only then do the parts' cards apply to it)."""
    return bool(loaded.weights_sha256) and loaded.weights_sha256 == installed_weights_sha(loaded.spec)


def cascade_stages(loaded: "LoadedModel") -> list[CascadeStage]:
    """The stages of a loaded cascade, in order. The parts' installed cards apply only when the
    cascade runs the installed parts (a hand-added cascade gets no card calibration)."""
    installed = runs_installed_parts(loaded)
    stages = []
    for attr in CASCADE_STAGES:
        model = getattr(loaded.model, attr)
        spec = model.spec
        sha = installed_weights_sha(spec) if installed else ""
        calibration, problem = card_calibration(spec, sha) if installed else (None, "")
        stages.append(CascadeStage(model, spec, calibration, problem, sha))
    return stages


def cascade_operating_point(loaded: "LoadedModel") -> "OperatingPoint | None":
    """The cascade's threshold on p(COVID-19) from stage 2's installed card (``cascade_card_entry``); else None,
    and the paper's rule alone decides."""
    from covidviewer.models.calibration import OperatingPoint

    entry = cascade_card_entry(loaded.spec, loaded.weights_sha256)
    if entry is None:
        return None
    try:
        return OperatingPoint(**{k: entry[k] for k in OperatingPoint.__dataclass_fields__ if k in entry})
    except TypeError:
        return None


def cascade_card_entry(spec: "ModelSpec", weights_sha256: str) -> dict | None:
    """The cascade's entry on stage 2's installed card (its threshold, same-source checks, style stress test) when
    the cascade that ran (``weights_sha256``) is the installed parts and the entry was made with exactly these parts
    (both stages' and the segmenter's weight hashes); else None."""
    from covidviewer.models import get_spec
    from covidviewer.model_cards import CASCADE_POINT_KEY

    if not weights_sha256 or weights_sha256 != installed_weights_sha(spec):
        return None
    parts = {attr: get_spec(name) for attr, name in spec.parts.items()}
    entry = card_entry(parts["stage2"], CASCADE_POINT_KEY)
    if not isinstance(entry, dict):
        return None
    chosen_with = entry.get("weights_sha256") or {}
    # every part, the segmenter too: the threshold was chosen on the p(COVID-19) that its lungs gave stage 2
    if any(chosen_with.get(attr) != installed_weights_sha(part) for attr, part in parts.items()):
        return None  # a part was replaced since the entry was made
    return entry
