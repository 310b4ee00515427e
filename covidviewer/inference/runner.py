"""Running one network on one prepared input: a plain forward, or an explainer whose forward also
gives the logits (so predict + explain costs one forward, not two)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from covidviewer.explain import ExplainError, Explanation, LimeSettings, ModelInput, ScoreCamSettings, create_explainer
from covidviewer.explain.base import bind_model
from covidviewer.explain.depth import read_depth_attention, slice_importance
from covidviewer.imaging.preprocess import Grid3D
from covidviewer.io.cancel import CancelledFn, ProgressFn, raise_if_cancelled

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.models.spec import ModelSpec

NO_EXPLANATION = "none"


@dataclass(frozen=True)
class RunOptions:
    """How to run: explanation method ("none" for probabilities only), and each method's own settings
    (``lime``, ``scorecam``; the other methods have none).

    target_index: class to explain (default: the predicted one). bf16: CPU autocast for plain
    forwards and LIME batches (CAM-family maps always run in fp32).
    date_check: applied to finished results, so not part of the cache key.
    """

    method: str = NO_EXPLANATION
    target_index: int | None = None
    lime: LimeSettings = field(default_factory=LimeSettings)
    scorecam: ScoreCamSettings = field(default_factory=ScoreCamSettings)
    bf16: bool = False
    date_check: bool = True  # no COVID-19 answer on an image dated before the pandemic (inference.era_check)

    def method_settings(self) -> LimeSettings | ScoreCamSettings | None:
        """The settings of the chosen method, None for a method without any."""
        return {"lime": self.lime, "scorecam": self.scorecam}.get(self.method)

    def cache_options(self) -> dict[str, Any]:
        """The settings that change a result (part of the cache key)."""
        settings = self.method_settings()
        return {"target": self.target_index, "bf16": self.bf16, **(settings.cache_options() if settings else {})}

    def explainer_options(self) -> dict[str, Any]:
        """Keyword arguments of the method's explainer."""
        settings = self.method_settings()
        return settings.explainer_options(self.bf16) if settings else {}


@dataclass
class NetworkRun:
    """Logits of one network on one input, with the map and per-slice weights when asked for."""

    logits: np.ndarray
    explanation: Explanation | None = None
    slice_importance: np.ndarray | None = None
    peak_slice: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def forward_logits(model: "nn.Module", model_input: ModelInput, bf16: bool = False) -> np.ndarray:
    """One forward without gradients -> (K,) float32 logits of the single input."""
    import torch

    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(model_input.tensor[None])).to(device)
    bound = bind_model(model, model_input)
    autocast = bf16 and device.type == "cpu"
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return bound(x).float()[0].cpu().numpy()


def run_network(
    model: "nn.Module",
    spec: "ModelSpec",
    model_input: ModelInput,
    options: RunOptions,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> NetworkRun:
    """Explain (if asked) and return the logits of the same forward; a method that cannot explain
    this model falls back to a plain forward with a warning."""
    raise_if_cancelled(cancelled)
    start = time.perf_counter()
    warnings: list[str] = []
    if options.method != NO_EXPLANATION:
        try:
            with create_explainer(options.method, model, spec, **options.explainer_options()) as explainer:
                explanation = explainer.explain(model_input, options.target_index, progress, cancelled)
        except ExplainError as exc:
            warnings.append(f"no {options.method} map: {exc}")
        else:
            run = NetworkRun(np.asarray(explanation.logits, dtype=np.float32), explanation, warnings=warnings)
            run.slice_importance, run.peak_slice = explanation.slice_importance, explanation.peak_slice
            run.timings["explain_s"] = time.perf_counter() - start
            return run
    logits = forward_logits(model, model_input, options.bf16)
    run = NetworkRun(logits, warnings=warnings)
    depth = read_depth_attention(model, spec)
    if depth is not None and isinstance(model_input.grid, Grid3D):
        run.slice_importance, run.peak_slice = slice_importance(depth, model_input.grid)
    run.timings["predict_s"] = time.perf_counter() - start
    return run


def class_probabilities(logits: np.ndarray, spec: "ModelSpec") -> np.ndarray:
    """Probabilities over ``spec.classes``: softmax, or [1 - p, p] for a single-logit model,
    or exp() for a composite whose outputs are already log-probabilities."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if spec.binary_logit:
        p = 1.0 / (1.0 + np.exp(-z[0]))
        return np.array([1.0 - p, p])
    if spec.outputs == "log_probabilities":
        return np.exp(z)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()
