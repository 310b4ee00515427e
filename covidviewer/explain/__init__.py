"""Explanations: CAM family, LIME, 3D CAM -> float32 maps in [0, 1] on the original grid.

Public API:

- ``METHODS``: method names -> one-line descriptions ("gradcam", "gradcampp", "hirescam",
  "scorecam", "eigencam", "layercam", "lime", "cam").
- ``create_explainer(method, model, spec, **options) -> Explainer``; use it as a context manager
  (hooks are released on exit) and call ``explain(model_input, target_index=None, progress=None,
  cancelled=None) -> Explanation``.
- ``ModelInput`` (what covidviewer.inference prepares), ``Explanation`` (the result), ``ExplainError``;
  progress and cancellation use ``covidviewer.io.cancel``.
- ``LimeSettings`` / ``ScoreCamSettings``: the settings of the two methods that have any.
- ``lung_attention_share`` and ``top_region_iou`` (covidviewer.explain.agreement).

Nothing here imports torch, grad-cam or lime until a method runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from covidviewer.explain.agreement import lung_attention_share, top_region, top_region_iou
from covidviewer.explain.base import ExplainError, Explainer, Explanation, ModelInput
from covidviewer.explain.gradcam import ScoreCamSettings
from covidviewer.explain.lime_explainer import LimeSettings

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.models.spec import ModelSpec

METHODS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcampp": "Grad-CAM++",
    "hirescam": "HiResCAM",
    "scorecam": "Score-CAM",
    "eigencam": "Eigen-CAM",
    "layercam": "LayerCAM",
    "lime": "LIME",
    "cam": "CAM (classifier weights x features)",
}
#: methods that run many forwards (progress + cancel matter)
LONG_RUNNING = frozenset({"scorecam", "lime"})


def explainer_class(method: str) -> type[Explainer]:
    """The Explainer subclass for a method name (imports its module on first use)."""
    from covidviewer.explain import cam, gradcam, lime_explainer

    classes: dict[str, type[Explainer]] = {
        "gradcam": gradcam.GradCAMExplainer,
        "gradcampp": gradcam.GradCAMPlusPlusExplainer,
        "hirescam": gradcam.HiResCAMExplainer,
        "scorecam": gradcam.ScoreCAMExplainer,
        "eigencam": gradcam.EigenCAMExplainer,
        "layercam": gradcam.LayerCAMExplainer,
        "lime": lime_explainer.LIMEExplainer,
        "cam": cam.CAMExplainer,
    }
    try:
        return classes[method]
    except KeyError:
        raise ValueError(f"unknown explanation method {method!r}; known: {', '.join(METHODS)}") from None


def create_explainer(method: str, model: "nn.Module", spec: "ModelSpec", **options: Any) -> Explainer:
    """An explainer for ``model``; ``options`` go to the class (e.g. LIME's ``settings``)."""
    return explainer_class(method)(model, spec, **options)


def preload() -> None:
    """Import torch, grad-cam and lime now (grad-cam's import alone takes seconds: it pulls in
    scikit-learn); a UI can call this in a worker at start-up so the first Analyse is not slower."""
    import lime.lime_image  # noqa: F401
    import pytorch_grad_cam  # noqa: F401
    import torch  # noqa: F401


__all__ = [
    "LONG_RUNNING",
    "METHODS",
    "ExplainError",
    "Explainer",
    "Explanation",
    "LimeSettings",
    "ModelInput",
    "ScoreCamSettings",
    "create_explainer",
    "explainer_class",
    "lung_attention_share",
    "preload",
    "top_region",
    "top_region_iou",
]
