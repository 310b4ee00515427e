"""Inference: Predictor, input gate, device choice, result cache (no Qt).

Public API (what the UI worker and the ``predict`` command use):

- ``Predictor(device="auto", precision="fp32")``: ``analyse(volume, models="all"|name|[names],
  RunOptions(method=...), source=..., slice_index=None, progress=None, cancelled=None)
  -> AnalysisResult``; ``classifier_names()``, ``applicable_models(volume)``,
  ``availability(name) -> (bool, reason)``, ``gate(volume, name)``, ``lung_mask(volume)``.
- ``RunOptions``: explanation method ("none", "gradcam", ..., "lime", "cam") and its settings.
- ``AnalysisResult`` / ``ModelResult``: plain results (``to_json()``; maps as numpy arrays).
- ``check_input(volume, spec) -> GateDecision``: the input gate on its own.
- ``Cancelled`` / ``CancelToken`` (``covidviewer.io.cancel``): the cancel protocol.

Driving it from a UI worker thread (the only protocol: a progress callback + a cancel callable)::

    token = CancelToken()                      # Cancel button -> token.cancel() (thread-safe)
    def work():                                # runs in the worker thread
        return predictor.analyse(volume, ["dpn92_se", "cascade_semenet"], RunOptions(method="lime"),
                                 progress=lambda done, total, msg: signals.progress.emit(done, total, msg),
                                 cancelled=token)
    # -> AnalysisResult on success; raises Cancelled after token.cancel() (checked between models,
    #    steps and every LIME / Score-CAM batch); nothing half-done is cached.

One Predictor per worker at a time (it is not re-entrant); the ModelStore and ResultCache it holds
are thread-safe and may be shared. torch is imported only when a model runs;
``covidviewer.explain.preload()`` imports the heavy libraries ahead of the first Analyse.
"""
from __future__ import annotations

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
