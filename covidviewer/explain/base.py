"""The explainer base class: one template method, hooks released by a context manager.

Modelled on pytorch-grad-cam's ``BaseCAM``: ``Explainer.explain`` runs the same steps for every
method (check cancellation, compute a map on the model's grid, put it back on the original grid,
rescale to [0, 1]) and each method overrides one step, ``_model_grid_map``.

Progress and cancellation (used by long methods: LIME, Score-CAM, 3D): callers pass
``progress(done, total, message)`` and ``cancelled() -> bool``; methods call ``progress`` after
every batch and raise ``covidviewer.io.cancel.Cancelled`` at the next batch boundary once ``cancelled()`` is true.
Long methods put what they count in the message ("300/1000 samples"); the time left is estimated
by whoever shows the progress (``covidviewer.explain.progress``: the viewer, ``predict``'s bar).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from covidviewer.explain.depth import read_depth_attention, slice_importance
from covidviewer.explain.geometry import CellGeometry, cell_geometry
from covidviewer.imaging.preprocess import Grid2D, Grid3D, Preprocess, normalise
from covidviewer.io.cancel import CancelledFn, ProgressFn, raise_if_cancelled

if TYPE_CHECKING:
    import torch
    from torch import nn

    from covidviewer.models.spec import ModelSpec


class ExplainError(Exception):
    """A method cannot explain this model (e.g. CAM on a head that is not GAP + linear)."""


def report(progress: ProgressFn | None, done: int, total: int, message: str) -> None:
    if progress is not None:
        progress(int(done), int(total), message)


def part_of(progress: ProgressFn | None, index: int, count: int, steps: int = 1000) -> ProgressFn | None:
    """Progress of part ``index`` of ``count`` reported as a share of the whole job, so a bar over
    several models or methods moves forward only instead of restarting at each one."""
    if progress is None:
        return None

    def scaled(done: int, total: int, message: str) -> None:
        share = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
        progress(round((index + share) * steps), count * steps, message)

    return scaled


@dataclass
class ModelInput:
    """A prepared input for one model plus what maps need to get back to the original pixels.

    tensor: (C, h, w) or (C, d, h, w) float32, normalised as the spec says.
    grid: Grid2D / Grid3D from covidviewer.imaging.preprocess (model grid <-> original grid).
    preprocess: the spec's Preprocess (to rebuild ``tensor`` from a perturbed [0, 1] image).
    forward_kwargs: extra forward arguments on the model grid with a batch axis of 1, e.g.
        ``{"lung_mask": (1, 1, h, w)}`` for a model that gates its features with the lungs.
    lung_mask: (h, w) [0, 1] lung mask on the model grid, when one was computed.
    """

    tensor: np.ndarray
    grid: Grid2D | Grid3D
    preprocess: Preprocess
    forward_kwargs: dict[str, np.ndarray] = field(default_factory=dict)
    lung_mask: np.ndarray | None = None

    @property
    def is_volume(self) -> bool:
        return isinstance(self.grid, Grid3D)

    def unit_image(self) -> np.ndarray:
        """The model-grid image in [0, 1] (first channel, normalisation undone)."""
        pp = self.preprocess
        return np.clip(self.tensor[0] * pp.std[0] + pp.mean[0], 0.0, 1.0).astype(np.float32)

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """(N, h, w) [0, 1] images -> (N, C, h, w) normalised exactly like ``tensor``."""
        return normalise(unit, self.preprocess, channel_axis=1)


@dataclass
class Explanation:
    """One attention map on the ORIGINAL grid ((H, W) or (z, y, x)), float32 in [0, 1].

    logits: raw outputs of the forward that produced the map (so a prediction needs no second
    forward); target_index: the class index explained (for a binary-logit model 1 = positive).
    slice_importance / peak_slice: per original slice weights in [0, 1] (3D models with depth
    attention) and the index of the largest.
    analysed_box: (y0, x0, y1, x1), the original pixels the model saw (end exclusive, as
    ``Grid2D.box``): the map is zero outside it; None for a volume (a 3D model sees all of it).
    analysed_region: what that box is, in words ("whole image", "lung box + 8%", "centre square").
    """

    method: str
    heatmap: np.ndarray
    target_index: int
    logits: np.ndarray | None = None
    slice_importance: np.ndarray | None = None
    peak_slice: int | None = None
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    analysed_box: tuple[int, int, int, int] | None = None
    analysed_region: str = ""

    def covers_whole_image(self) -> bool:
        """True when the model saw every pixel of the image (or the whole volume)."""
        if self.analysed_box is None:
            return True
        y0, x0, y1, x1 = self.analysed_box
        return (y0, x0) == (0, 0) and (y1, x1) == tuple(self.heatmap.shape[-2:])


@dataclass
class ModelGridMap:
    """What a method computes: a map on the activation or model grid plus the logits it saw."""

    values: np.ndarray
    target_index: int
    logits: np.ndarray | None = None
    on_model_grid: bool = False
    details: dict[str, Any] = field(default_factory=dict)


class ClassTarget:
    """Callable target for grad-cam: the score of one class from one sample's outputs.

    ``index=None`` explains the predicted class: it is fixed on the first call (on the unperturbed
    forward) so perturbed batches (Score-CAM) keep scoring the same class. For a single-logit
    binary model index 1 scores ``+logit`` and index 0 scores ``-logit``.
    """

    def __init__(self, index: int | None, binary_logit: bool):
        self.index = index
        self.binary_logit = binary_logit

    def resolve(self, output: "torch.Tensor") -> int:
        if self.index is None:
            values = output.detach().reshape(-1)
            self.index = int(float(values[0]) > 0) if self.binary_logit else int(values.argmax())
        return self.index

    def __call__(self, output: "torch.Tensor") -> "torch.Tensor":
        index = self.resolve(output)
        if not self.binary_logit and output.dim() == 1:
            return output[index]
        if self.binary_logit:
            logit = output.reshape(-1)[0]
            return logit if index == 1 else -logit
        return output[:, index]


def _bound_model_class() -> type:
    from torch import nn

    class BoundModel(nn.Module):
        """Presents ``model(x, **kwargs)`` as ``model(x)`` (grad-cam and LIME call one argument).

        Extra inputs with a batch of 1 are expanded to the batch of ``x``.
        """

        def __init__(self, model: nn.Module, kwargs: dict[str, "torch.Tensor"]):
            super().__init__()
            self.model = model
            self.bound = kwargs

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            kwargs = {k: v.expand(x.shape[0], *v.shape[1:]) if v.shape[0] == 1 else v for k, v in self.bound.items()}
            return self.model(x, **kwargs)

    return BoundModel


def bind_model(model: "nn.Module", model_input: ModelInput) -> "nn.Module":
    """``model`` with the input's extra forward arguments bound (itself when there are none)."""
    import torch

    if not model_input.forward_kwargs:
        return model
    device = next(model.parameters()).device
    kwargs = {k: torch.as_tensor(v, device=device) for k, v in model_input.forward_kwargs.items()}
    return _bound_model_class()(model, kwargs)


def rescale_unit(values: np.ndarray) -> np.ndarray:
    """Rectify and scale to [0, 1] (by the maximum, so an all-zero map stays zero)."""
    out = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    out = np.maximum(out, 0.0)
    peak = float(out.max()) if out.size else 0.0
    if peak > 0:
        out /= peak
    return out.astype(np.float32, copy=False)


def analysed_box(grid: Grid2D) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the original pixels a 2D model sees: the lung box (or the whole image),
    less what the fit cropped away (a centre crop); padding and stretching keep all of it."""
    h, w = grid.original
    by0, bx0, by1, bx1 = grid.box if grid.box is not None else (0, 0, h, w)
    (rh, rw), (oy, ox), (th, tw) = grid.resized, grid.offset, grid.size
    sy, sx = (by1 - by0) / rh, (bx1 - bx0) / rw
    return (by0 + round(max(oy, 0) * sy), bx0 + round(max(ox, 0) * sx),
            by0 + round(min(oy + th, rh) * sy), bx0 + round(min(ox + tw, rw) * sx))


def analysed_region(grid: Grid2D, preprocess: Preprocess) -> str:
    """The analysed box in words: "whole image", "lung box + 8%", "centre square" (a crop fit on a
    square input), "centre crop", or the lung box with the crop's words after it."""
    y0, x0, y1, x1 = analysed_box(grid)
    if grid.box is not None:
        h, w = grid.box[2] - grid.box[0], grid.box[3] - grid.box[1]
    else:
        h, w = grid.original
    cropped = (y1 - y0, x1 - x0) != (h, w)
    crop = ("centre square" if grid.size[0] == grid.size[1] else "centre crop") if cropped else ""
    if grid.box is None:
        return crop or "whole image"
    lung = f"lung box + {100 * preprocess.lung_crop_margin:.0f}%"
    return f"{lung}, {crop}" if crop else lung


def map_to_original(values: np.ndarray, grid: Grid2D | Grid3D, geometry: CellGeometry | None = None) -> np.ndarray:
    """A map on the activation grid or the model grid -> the original grid.

    An activation map is first put on the model grid by interpolating between its cells' measured
    centres (``geometry``; default: the centre-aligned convention), then the grid's exact inverse
    (crop/pad/resize for 2D, the depth + in-plane resample for 3D) puts it on the original pixels.
    """
    values = np.asarray(values, dtype=np.float32)
    size = tuple(grid.size)
    if values.shape != size:
        geometry = geometry or CellGeometry.centre_aligned(values.shape, size)
        values = geometry.to_model_grid(values, size)
    return grid.to_original(values)


class Explainer:
    """Base of every explanation method (template method ``explain``; hooks via ``with``).

    Subclasses set ``method`` and implement ``_model_grid_map``; those that register hooks on the
    model release them in ``release`` (called by ``__exit__``).
    """

    method: ClassVar[str] = ""
    #: True for methods whose cost grows with batches (progress is reported, cancel is honoured)
    long_running: ClassVar[bool] = False

    def __init__(self, model: "nn.Module", spec: "ModelSpec", layers: tuple[str, ...] | None = None):
        self.model = model
        self.spec = spec
        self.layer_names = tuple(layers) if layers else tuple(spec.explain.cam_layers[:1])

    def __enter__(self) -> "Explainer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Remove hooks; safe to call twice."""

    def explain(
        self,
        model_input: ModelInput,
        target_index: int | None = None,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
    ) -> Explanation:
        """Map of where the model looks for ``target_index`` (default: the predicted class)."""
        raise_if_cancelled(cancelled)
        start = time.perf_counter()
        target = ClassTarget(target_index, self.spec.binary_logit)
        raw = self._model_grid_map(model_input, target, progress, cancelled)
        if model_input.is_volume and "depth_attention" not in raw.details:
            raw.details.update(self._depth_gate())  # the map's own forward's, before any probe forward
        geometry = None if raw.on_model_grid else self._geometry(model_input, raw.values.shape)
        heatmap = rescale_unit(map_to_original(rescale_unit(raw.values), model_input.grid, geometry))
        explanation = Explanation(
            method=self.method,
            heatmap=heatmap,
            target_index=raw.target_index,
            logits=raw.logits,
            details=dict(raw.details),
        )
        if isinstance(model_input.grid, Grid2D):
            explanation.analysed_box = analysed_box(model_input.grid)
            explanation.analysed_region = analysed_region(model_input.grid, model_input.preprocess)
        self._finish(explanation, model_input)
        explanation.seconds = time.perf_counter() - start
        return explanation

    # ------------------------------------------------------------------ hooks for subclasses
    def _model_grid_map(
        self,
        model_input: ModelInput,
        target: ClassTarget,
        progress: ProgressFn | None,
        cancelled: CancelledFn | None,
    ) -> ModelGridMap:
        raise NotImplementedError

    def _finish(self, explanation: Explanation, model_input: ModelInput) -> None:
        """Extras after the map is on the original grid: ``details["depth_attention"]`` (3D models, see
        ``_depth_gate``) moves onto the original slices as ``slice_importance`` / ``peak_slice``."""
        weights = explanation.details.pop("depth_attention", None)
        if weights is not None and isinstance(model_input.grid, Grid3D):
            explanation.slice_importance, explanation.peak_slice = slice_importance(weights, model_input.grid)

    # ------------------------------------------------------------------ shared helpers
    def _depth_gate(self) -> dict[str, Any]:
        """``{"depth_attention": (D',) weights}`` from the model's last forward (a 3D model with a depth
        gate, ``spec.explain.depth_attention``), else ``{}``. The template reads it right after the
        method's map; a method whose later forwards replace it (Score-CAM) reads it sooner."""
        weights = read_depth_attention(self.model, self.spec)
        return {} if weights is None else {"depth_attention": weights}

    def _layers(self) -> list["nn.Module"]:
        if not self.layer_names:
            raise ExplainError(f"{self.spec.name} declares no CAM layer")
        try:
            return [self.model.get_submodule(name) for name in self.layer_names]
        except AttributeError as e:
            raise ExplainError(f"{self.spec.name}: CAM layer not found ({e})") from e

    def _geometry(self, model_input: ModelInput, cells: tuple[int, ...]) -> CellGeometry:
        """Centres of the first CAM layer's cells: declared by the spec, else measured (explain.geometry)."""
        declared = self.spec.explain.cell_centres.get(self.layer_names[0])
        if declared is not None:
            return CellGeometry(declared.origin, declared.stride)
        return cell_geometry(self.model, self.spec.name, self.layer_names[0], tuple(model_input.tensor.shape),
                             tuple(cells), model_input.forward_kwargs)

    def _device(self) -> "torch.device":
        return next(self.model.parameters()).device
