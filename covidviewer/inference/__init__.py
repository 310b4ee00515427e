"""Inference: Predictor, input gate, device choice, result cache (no Qt).

Public API (what the UI worker and the ``predict`` command use):

- ``Predictor(device="auto", precision="fp32")``: ``analyse(volume, models="all"|name|[names],
  RunOptions(method=...), source=..., slice_index=None, progress=None, cancelled=None)
  -> AnalysisResult``; ``classifier_names()``, ``applicable_models(volume)``,
  ``availability(name) -> (bool, reason)``, ``gate(volume, name)``, ``lung_mask(volume)``.
- ``RunOptions``: explanation method ("none", "gradcam", ..., "lime", "cam") and its settings.
- ``AnalysisResult`` / ``ModelResult``: plain results (``to_json()``; maps as numpy arrays).
- ``check_input(volume, spec) -> GateDecision``: the input gate on its own.
- ``Cancelled`` / ``CancelToken`` (re-exported from covidviewer.explain): the cancel protocol.

torch is imported only when a model runs.
"""
from __future__ import annotations

from covidviewer.explain.base import Cancelled, CancelToken
from covidviewer.inference.cache import ResultCache, image_hash
from covidviewer.inference.gate import GateDecision, check_input
from covidviewer.inference.predictor import ALL, Predictor
from covidviewer.inference.results import AnalysisResult, ModelResult
from covidviewer.inference.runner import NO_EXPLANATION, RunOptions
from covidviewer.inference.store import Availability, ModelStore, ModelUnavailable

__all__ = [
    "ALL",
    "AnalysisResult",
    "Availability",
    "CancelToken",
    "Cancelled",
    "GateDecision",
    "ModelResult",
    "ModelStore",
    "ModelUnavailable",
    "NO_EXPLANATION",
    "Predictor",
    "ResultCache",
    "RunOptions",
    "check_input",
    "image_hash",
]
