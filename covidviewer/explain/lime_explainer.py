"""LIME (Ribeiro et al. 2016) on superpixels of the model-grid image, with lime 0.2.0.1's surrogate fit.

* Our own deterministic segmentation (SLIC from scikit-image, or a regular grid): lime's default
  quickshift ignores its seed under scikit-image 0.26, so two runs would differ.
* Sampling, perturbation and the surrogate fit are ``lime_image.LimeImageExplainer``'s (same
  random stream, cosine distance, kernel width 0.25, ``LimeBase`` ridge fit), so a run without the
  early stop gives exactly lime's weights; the perturbed images are built a batch at a time with
  one numpy call instead of lime's per-sample Python loop.
* ``random_state`` fixes the perturbation samples and the surrogate fit: same seed, same map.
* Batched forwards at the model's input size under ``torch.inference_mode`` with channels-last
  tensors (1.37x the images/s of ``no_grad`` + contiguous for DPN-92 at 128 px on a busy 2-core
  CPU, bench/bench_lime.py); progress and cancellation between batches.
* Few superpixels (24 by default, ``LimeSettings.segments``), so that the map does not depend on the
  random draw: finer ones than the network can tell apart only add noise to the surrogate.
* Early stop (default): after every batch past ``min_samples`` the surrogate is refitted on the
  samples so far; the run stops once the top ``stable_top`` superpixels (by weight; their order
  inside the top may move) have not changed for ``stable_for`` samples. ``samples`` is then
  the most it draws; the number used is in ``Explanation.details["num_samples"]``.
  ``LimeSettings(early_stop=False)`` draws all of them (the paper's 1000). With the early stop the samples come in
  complementary pairs (``LimeSettings.paired``): each superpixel's weight is steadier for the same count.
* Switched-off superpixels become ``hide_value`` (0 = black, air on a radiograph); lime's default
  (each superpixel's own mean, ``hide_value=None``) barely changes a smooth superpixel.
* Optionally superpixels only inside the lung mask: everything outside is one segment whose
  pixels are always restored, so it never changes the model's answer and its weight is dropped
  from the map (and from the early stop's ranking).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from covidviewer.explain.base import (
    ClassTarget,
    Explainer,
    ExplainError,
    ModelGridMap,
    ModelInput,
    bind_model,
    report,
)
from covidviewer.io.cancel import CancelledFn, ProgressFn, raise_if_cancelled

if TYPE_CHECKING:
    import torch
    from torch import nn

    from covidviewer.models.spec import ModelSpec

SEGMENTATIONS = ("slic", "grid")
#: superpixels per image, whatever the input size: with the 55-64 that scaling "64 at 224 px" gave, two
#: 1000-sample runs with different seeds ranked the top 10 almost at random on RG1_UNCI at 224 px (Kendall tau
#: 0.16; 0.60 at 128 px); with 20-26 they agree at 0.69-0.96, and the early stop comes twice as soon (bench/bench_lime.py)
DEFAULT_SEGMENTS = 24
#: lime_image's defaults, kept so a run without the early stop reproduces lime's weights
KERNEL_WIDTH = 0.25
DISTANCE = "cosine"


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


class StableRanking:
    """Tracks the top ``k`` features of successive surrogate fits; ``update`` says when they have been
    the same ``k`` for ``patience`` samples. Their order inside the top ``k`` may move: near-equal
    weights swap places for hundreds of samples without changing what the map shows.
    ``ignore``: feature ids never ranked (the restored background)."""

    def __init__(self, k: int = 5, patience: int = 200, ignore: tuple[int, ...] = ()) -> None:
        self.k, self.patience, self.ignore = k, patience, ignore
        self.top: frozenset[int] = frozenset()
        self.since = 0

    def update(self, samples: int, weights: np.ndarray) -> bool:
        """Record the fit on ``samples`` samples; True once its top ``k`` is unchanged for ``patience``."""
        ranked = [int(i) for i in np.argsort(-np.asarray(weights), kind="stable") if int(i) not in self.ignore]
        top = frozenset(ranked[: self.k])
        if top != self.top:
            self.top, self.since = top, samples
        return samples - self.since >= self.patience

    def stable_for(self, samples: int) -> int:
        return samples - self.since if self.top else 0


@dataclass(frozen=True)
class LimeSettings:
    """Every LIME setting, in one place (``predict --lime-*``, the viewer's LIME row, ``LIMEExplainer``).

    samples: the most perturbed images scored; segments: superpixels requested (inside the lungs when
    restricted to them; SLIC may give a few more or fewer); batch: images per forward;
    restrict_to_lungs: superpixels inside the lung mask only; seed: the perturbations' random state;
    early_stop: stop once the top ``stable_top`` superpixels held for ``stable_for`` samples, counted
    from ``min_samples`` (False draws all ``samples``); segmentation: "slic" or "grid";
    hide_value: what a switched-off superpixel shows (None: its own mean, lime's default); paired: with the early
    stop, draw the samples in complementary pairs (``sample_rows``; the fixed run draws lime's own samples, so that it
    gives lime_image's weights).
    """

    samples: int = 1000
    segments: int = DEFAULT_SEGMENTS
    # 8 a forward: DPN-92 at 224 px on 2 CPU cores runs 12.5 images/s in batches of 8, 10.9 in batches of 16 (bench_lime.py)
    # (session 22; 20 s instead of 23-26 s for the same 256 samples and map on RG1_UNCI)
    batch: int = 8
    restrict_to_lungs: bool = False
    seed: int = 0
    early_stop: bool = True
    segmentation: str = "slic"
    hide_value: float | None = 0.0
    stable_top: int = 5
    stable_for: int = 128
    min_samples: int = 128
    # bench/bench_lime.py --films five --paired (session 32): the early stop came at 256-472 samples (median 328)
    # instead of 256-1000 (408), 22-49 s instead of 24-94 s; at 256 samples the weights' error against the mean of
    # two 1000-sample runs fell by 3-35% on three films (three seeds each)
    paired: bool = True

    def __post_init__(self) -> None:
        if self.samples < 2:
            raise ValueError("LIME needs at least 2 samples")
        if self.segments < 2:
            raise ValueError("LIME needs at least 2 superpixels")
        if self.segmentation not in SEGMENTATIONS:
            raise ValueError(f"segmentation {self.segmentation!r} not in {SEGMENTATIONS}")

    def explainer_options(self, bf16: bool) -> dict[str, Any]:
        """``LIMEExplainer`` keyword arguments (``bf16``: autocast its batches on a CPU)."""
        return {"settings": self, "autocast_bf16": bf16}

    def cache_options(self) -> dict[str, Any]:
        """The settings that change the map (part of a result's cache key)."""
        return {"samples": self.samples, "segments": self.segments, "lungs": self.restrict_to_lungs, "seed": self.seed,
                "early_stop": self.early_stop, "paired": self.pairs_samples}

    @property
    def pairs_samples(self) -> bool:
        """Whether a run draws complementary pairs: ``paired`` with the early stop only."""
        return self.paired and self.early_stop


class LIMEExplainer(Explainer):
    """LIME over superpixels of the model-grid image; the map is each superpixel's positive weight."""

    method = "lime"
    long_running = True

    def __init__(
        self,
        model: "nn.Module",
        spec: "ModelSpec",
        layers: tuple[str, ...] | None = None,
        settings: LimeSettings = LimeSettings(),
        autocast_bf16: bool = False,
    ):
        super().__init__(model, spec, layers)
        self.settings = settings
        self.autocast_bf16 = autocast_bf16

    def _model_grid_map(
        self,
        model_input: ModelInput,
        target: ClassTarget,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> ModelGridMap:
        from lime import lime_image

        settings = self.settings
        if model_input.is_volume:
            raise ExplainError("LIME is available for 2D images only")
        unit = model_input.unit_image()
        mask = model_input.lung_mask if settings.restrict_to_lungs else None
        if settings.restrict_to_lungs and mask is None:
            raise ExplainError("LIME restricted to the lungs needs a lung mask (the lung U-Net)")
        segments = segment_superpixels(unit, settings.segmentation, settings.segments, mask)
        n_features = int(segments.max()) + 1
        inside = lung_region(mask)
        # outside the lungs is segment 0; every sample restores it
        outside = None if inside is None or inside.all() else ~inside
        logits = self._logits(model_input)
        index = int(target.resolve(_as_tensor(logits)))
        # lime's own explainer for its random stream and surrogate (a fresh one: sampling consumes it)
        lime = lime_image.LimeImageExplainer(kernel_width=KERNEL_WIDTH, random_state=settings.seed)
        fudged = self._hidden_image(unit, segments)
        ranking = StableRanking(settings.stable_top, settings.stable_for, (0,) if outside is not None else ())
        data = np.zeros((0, n_features), dtype=np.int64)
        probs: list[np.ndarray] = []
        stopped = False
        with self._fast_forward(model_input) as forward:
            while len(data) < settings.samples:
                raise_if_cancelled(cancelled)
                rows = sample_rows(lime.random_state, min(settings.batch, settings.samples - len(data)), n_features,
                                   settings.pairs_samples, first=not len(data))
                data = np.concatenate([data, rows])
                probs.append(forward(perturbed_images(unit, fudged, segments, rows, outside)))
                done = len(data)
                if settings.early_stop and done >= settings.min_samples and done < settings.samples:
                    weights, _ = _surrogate(lime, data, np.concatenate(probs), index, n_features)
                    stopped = ranking.update(done, weights)
                report(progress, settings.samples if stopped else done, settings.samples,
                       self._message(done, ranking.stable_for(done), stopped))
                if stopped:
                    break
        weights, score = _surrogate(lime, data, np.concatenate(probs), index, n_features)
        if outside is not None:
            weights[0] = 0.0
        details: dict[str, Any] = {
            "superpixels": n_features, "num_samples": len(data), "max_samples": settings.samples,
            "stopped_early": stopped, "score": score, "paired": settings.pairs_samples,
        }
        return ModelGridMap(weights.astype(np.float32)[segments], index, logits, True, details)

    def _message(self, done: int, stable: int, stopped: bool) -> str:
        settings = self.settings
        if stopped:
            return f"{done} samples: top {settings.stable_top} steady for {stable}, stopping early"
        if settings.early_stop:
            return f"{done}/{settings.samples} samples, may stop sooner (top {settings.stable_top} steady for {stable})"
        return f"{done}/{settings.samples} samples"

    def _hidden_image(self, unit: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """What a switched-off superpixel shows: ``hide_value``, or each superpixel's mean (lime's None)."""
        if self.settings.hide_value is not None:
            return np.full_like(unit, self.settings.hide_value)
        sums = np.bincount(segments.ravel(), weights=unit.ravel().astype(np.float64))
        counts = np.bincount(segments.ravel())
        return (sums / np.maximum(counts, 1)).astype(np.float32)[segments]

    def _logits(self, model_input: ModelInput) -> np.ndarray:
        import torch

        bound = bind_model(self.model, model_input)
        x = torch.from_numpy(np.ascontiguousarray(model_input.tensor[None])).to(self._device())
        with torch.inference_mode():
            return bound(x).float()[0].cpu().numpy()

    @contextmanager
    def _fast_forward(self, model_input: ModelInput) -> Iterator[Any]:
        """(N, h, w) [0, 1] images -> (N, K) float64 probabilities, in inference mode with channels-last
        tensors; the model's parameters are put back in their own memory format afterwards."""
        import torch

        from covidviewer.models.memory_format import channels_last  # not at import: the viewer's window comes first

        device = self._device()
        binary = self.spec.binary_logit
        bound = bind_model(self.model, model_input)
        with channels_last(self.model):

            def forward(images: np.ndarray) -> np.ndarray:
                x = torch.from_numpy(model_input.from_unit(images)).to(device)
                x = x.contiguous(memory_format=torch.channels_last)
                bf16 = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast_bf16)
                with torch.inference_mode(), bf16:
                    out = bound(x).float()
                return class_probabilities(out, binary).cpu().numpy().astype(np.float64)

            yield forward


def sample_rows(random_state: np.random.RandomState, count: int, n_features: int, paired: bool,
                first: bool) -> np.ndarray:
    """(count, n_features) 0/1 rows: which superpixels each perturbed image keeps. lime's draw (uniform, independent)
    or, ``paired``, half of them drawn and the other half their complements (antithetic sampling, as KernelSHAP's paired
    sampling: the pairs cancel much of the interactions' noise in each superpixel's weight). The first row of a run is
    the image itself (lime's first sample); paired, the second half's first row is every superpixel hidden."""
    drawn = (count + 1) // 2 if paired else count
    rows = random_state.randint(0, 2, drawn * n_features).reshape(-1, n_features)
    if first:
        rows[0, :] = 1
    return np.concatenate([rows, 1 - rows])[:count] if paired else rows


def perturbed_images(
    unit: np.ndarray, hidden: np.ndarray, segments: np.ndarray, rows: np.ndarray, outside: np.ndarray | None
) -> np.ndarray:
    """(N, h, w) copies of ``unit`` with the superpixels that are 0 in ``rows`` (N, n_features) taken
    from ``hidden``; pixels in ``outside`` always keep their own value."""
    keep = rows.astype(bool)[:, segments]
    if outside is not None:
        keep[:, outside] = True
    return np.where(keep, unit[None], hidden[None]).astype(np.float32)


def _surrogate(lime: Any, data: np.ndarray, probs: np.ndarray, index: int, n_features: int) -> tuple[np.ndarray, float]:
    """lime's weighted ridge fit of the samples so far -> (per-superpixel weights, R^2)."""
    from sklearn.metrics import pairwise_distances

    distances = pairwise_distances(data, data[0].reshape(1, -1), metric=DISTANCE).ravel()
    _, local, score, _ = lime.base.explain_instance_with_data(data, probs, distances, index, n_features,
                                                              feature_selection=lime.feature_selection)
    weights = np.zeros(n_features, dtype=np.float64)
    for segment, weight in local:
        weights[segment] = weight
    return weights, float(score)


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
