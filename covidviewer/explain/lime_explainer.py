"""LIME (Ribeiro et al. 2016) through ``lime`` 0.2.0.1's ``lime_image.LimeImageExplainer``.

* Our own deterministic segmentation (SLIC from scikit-image, or a regular grid): lime's default
  quickshift ignores its seed under scikit-image 0.26, so two runs would differ.
* ``random_state`` fixes the perturbation samples and the surrogate fit: same seed, same map.
* A batched predict function that honours cancellation and reports progress between batches.
* Switched-off superpixels become ``hide_value`` (0 = black, air on a radiograph); lime's default
  (each superpixel's own mean, ``hide_value=None``) barely changes a smooth superpixel.
* Optionally superpixels only inside the lung mask: everything outside is one segment whose
  pixels the predict function always restores, so it never changes the model's answer and its
  weight is dropped from the map.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from covidviewer.explain.base import (
    CancelledFn,
    ClassTarget,
    Explainer,
    ExplainError,
    ModelGridMap,
    ModelInput,
    ProgressFn,
    bind_model,
    raise_if_cancelled,
    report,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from covidviewer.models.spec import ModelSpec

SEGMENTATIONS = ("slic", "grid")


def segment_superpixels(
    unit: np.ndarray,
    method: str = "slic",
    n_segments: int = 64,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w) [0, 1] image -> (h, w) int labels 0..n-1, deterministic.

    With ``mask``, label 0 is everything outside it and superpixels tile only the inside.
    """
    if method not in SEGMENTATIONS:
        raise ValueError(f"segmentation {method!r} not in {SEGMENTATIONS}")
    inside = lung_region(mask)
    if method == "slic":
        from skimage.segmentation import slic

        labels = slic(unit.astype(np.float64), n_segments=n_segments, compactness=0.1, channel_axis=None,
                      start_label=1, mask=inside)
    else:
        h, w = unit.shape
        side = max(int(np.ceil(np.sqrt(h * w / max(n_segments, 1)))), 1)
        rows, cols = np.arange(h)[:, None] // side, np.arange(w)[None, :] // side
        labels = rows * int(np.ceil(w / side)) + cols + 1
        if inside is not None:
            labels = np.where(inside, labels, 0)
    # lime assumes labels 0..n-1 (it loops over range(n_features) and compares)
    _, contiguous = np.unique(labels, return_inverse=True)
    return contiguous.reshape(unit.shape).astype(np.int64)


def lung_region(mask: np.ndarray | None) -> np.ndarray | None:
    """Boolean inside-the-lungs map, or None (no mask, or an empty one: then the whole image is used)."""
    if mask is None:
        return None
    inside = np.asarray(mask) > 0.5
    return inside if inside.any() else None


class LIMEExplainer(Explainer):
    """LIME over superpixels of the model-grid image; the map is each superpixel's positive weight."""

    method = "lime"
    long_running = True

    def __init__(
        self,
        model: "nn.Module",
        spec: "ModelSpec",
        layers: tuple[str, ...] | None = None,
        num_samples: int = 1000,
        batch_size: int = 32,
        n_segments: int = 64,
        segmentation: str = "slic",
        restrict_to_lungs: bool = False,
        random_state: int = 0,
        hide_value: float | None = 0.0,
        autocast_bf16: bool = False,
    ):
        super().__init__(model, spec, layers)
        if num_samples < 2:
            raise ValueError("LIME needs at least 2 samples")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.n_segments = n_segments
        self.segmentation = segmentation
        self.restrict_to_lungs = restrict_to_lungs
        self.random_state = random_state
        self.hide_value = hide_value
        self.autocast_bf16 = autocast_bf16

    def _model_grid_map(
        self,
        model_input: ModelInput,
        target: ClassTarget,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> ModelGridMap:
        from lime import lime_image

        if model_input.is_volume:
            raise ExplainError("LIME is available for 2D images only")
        unit = model_input.unit_image()
        mask = model_input.lung_mask if self.restrict_to_lungs else None
        if self.restrict_to_lungs and mask is None:
            raise ExplainError("LIME restricted to the lungs needs a lung mask (the lung U-Net)")
        segments = segment_superpixels(unit, self.segmentation, self.n_segments, mask)
        inside = lung_region(mask)
        # outside the lungs is segment 0; the predict function restores it in every sample
        outside = None if inside is None or inside.all() else ~inside
        probabilities = self._probability_fn(model_input, unit, outside, progress, cancelled)
        logits = self._logits(model_input)
        target.resolve(_as_tensor(logits))
        index = int(target.index or 0)
        # a fresh explainer per call: its RandomState is consumed by the sampling
        explainer = lime_image.LimeImageExplainer(random_state=self.random_state)
        explanation = explainer.explain_instance(
            unit.astype(np.float64),
            probabilities,
            labels=(index,),
            top_labels=None,
            hide_color=self.hide_value,
            num_features=int(segments.max()) + 1,
            num_samples=self.num_samples,
            batch_size=self.batch_size,
            segmentation_fn=lambda _image: segments,
            random_seed=self.random_state,
        )
        weights = np.zeros(int(segments.max()) + 1, dtype=np.float32)
        for segment, weight in explanation.local_exp[index]:
            weights[segment] = weight
        if outside is not None:
            weights[0] = 0.0
        model_map = weights[segments]
        details = {"superpixels": int(segments.max()) + 1, "num_samples": self.num_samples, "score": float(explanation.score)}
        return ModelGridMap(model_map, index, logits, True, details)

    def _logits(self, model_input: ModelInput) -> np.ndarray:
        import torch

        bound = bind_model(self.model, model_input)
        x = torch.from_numpy(np.ascontiguousarray(model_input.tensor[None])).to(self._device())
        with torch.no_grad():
            return bound(x).float()[0].cpu().numpy()

    def _probability_fn(
        self,
        model_input: ModelInput,
        unit: np.ndarray,
        outside: np.ndarray | None,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> Callable[[np.ndarray], np.ndarray]:
        import torch

        bound = bind_model(self.model, model_input)
        device = self._device()
        binary = self.spec.binary_logit
        done = [0]

        def probabilities(images: np.ndarray) -> np.ndarray:
            raise_if_cancelled(cancelled)
            grey = images[..., 0].astype(np.float32)  # lime hands RGB copies of our grey image
            if outside is not None:
                grey[:, outside] = unit[outside]
            x = torch.from_numpy(model_input.from_unit(grey)).to(device)
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast_bf16):
                out = bound(x).float()
            probs = class_probabilities(out, binary).cpu().numpy().astype(np.float64)
            done[0] += len(images)
            report(progress, done[0], self.num_samples, "LIME")
            return probs

        return probabilities


def class_probabilities(logits: "torch.Tensor", binary_logit: bool) -> "torch.Tensor":
    """(N, K) logits -> (N, K) softmax, or (N, 1) single logit -> (N, 2) [1 - p, p]."""
    import torch

    if binary_logit:
        p = torch.sigmoid(logits.reshape(logits.shape[0], -1)[:, :1])
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def _as_tensor(values: np.ndarray) -> "torch.Tensor":
    import torch

    return torch.from_numpy(np.asarray(values))
