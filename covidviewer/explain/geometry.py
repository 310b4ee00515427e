"""Where each activation cell sits on the model grid, measured rather than assumed.

Bilinear up-sampling with ``align_corners=False`` assumes cell i of a stride-S map is centred at
S*i + (S-1)/2 model pixels. That holds for 2x2 pooling (VGG) but is half a cell off for strided
3x3 convolutions with padding (ResNet, DPN, DARNet: centre S*i), 15.5 px at stride 32 and 3.5
slices at depth stride 8. So the centre of each cell is measured once per (model, layer, input
shape) on a copy of the network with uniform positive weights: there the gradient of one cell
with respect to the input is a bump that peaks on the cell's receptive-field centre.
"""
from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

#: cells per axis in the probe input (the probe wraps around, so a few cells measure exactly)
PROBE_CELLS = 4


@dataclass(frozen=True)
class CellGeometry:
    """Cell i along an axis is centred at ``origin + stride * i`` model-grid pixels."""

    origin: tuple[float, ...]
    stride: tuple[float, ...]

    @classmethod
    def centre_aligned(cls, cells: tuple[int, ...], size: tuple[int, ...]) -> "CellGeometry":
        """The ``align_corners=False`` convention (cells tile the grid, centred in their tiles)."""
        stride = tuple(s / c for s, c in zip(size, cells))
        return cls(tuple((st - 1) / 2 for st in stride), stride)

    def to_model_grid(self, values: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
        """Linear interpolation of a (cells...) map at every model-grid pixel; edges are held."""
        out = np.asarray(values, dtype=np.float32)
        for axis, (n_out, origin, stride) in enumerate(zip(size, self.origin, self.stride)):
            n = out.shape[axis]
            u = np.clip((np.arange(n_out, dtype=np.float64) - origin) / stride, 0.0, n - 1)
            i0 = np.floor(u).astype(np.intp)
            i1 = np.minimum(i0 + 1, n - 1)
            shape = [1] * out.ndim
            shape[axis] = n_out
            t = (u - i0).astype(np.float32).reshape(shape)
            out = np.take(out, i0, axis=axis) * (1 - t) + np.take(out, i1, axis=axis) * t
        return out.astype(np.float32, copy=False)


_cache: dict[tuple[Any, ...], CellGeometry] = {}
_lock = threading.Lock()


def cell_geometry(
    model: "nn.Module",
    model_name: str,
    layer_name: str,
    input_shape: tuple[int, ...],
    cells: tuple[int, ...],
    forward_kwargs: dict[str, np.ndarray] | None = None,
) -> CellGeometry:
    """Geometry of ``layer_name``'s cells for a (C, *spatial) input whose map has ``cells`` cells.

    Cached per (model, layer, input shape); falls back to the centre-aligned convention when the
    network cannot be probed (the map is then at worst half a cell off, as before).
    """
    key = (model_name, layer_name, tuple(input_shape), tuple(cells))
    with _lock:
        if key in _cache:
            return _cache[key]
    size = tuple(input_shape[1:])
    try:
        geometry = _measure(model, layer_name, tuple(input_shape), tuple(cells), forward_kwargs or {})
    except Exception:  # noqa: BLE001 - an odd architecture must not cost the user the map
        geometry = CellGeometry.centre_aligned(tuple(cells), size)
    with _lock:
        _cache[key] = geometry
    return geometry


def _probe_sizes(size: tuple[int, ...], cells: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Smaller inputs first (cheaper), the full size last; 3D also tries keeping the depth."""
    stride = [max(1, round(s / c)) for s, c in zip(size, cells)]
    small = tuple(min(s, st * PROBE_CELLS) for s, st in zip(size, stride))
    options = [small]
    if len(size) == 3:
        options.append((size[0], *small[1:]))  # e.g. DARNet's depth attention is built for one depth
    options.append(size)
    return list(dict.fromkeys(options))


def _measure(
    model: "nn.Module", layer_name: str, input_shape: tuple[int, ...], cells: tuple[int, ...],
    forward_kwargs: dict[str, np.ndarray],
) -> CellGeometry:
    probe = _uniform_copy(model)
    layer = probe.get_submodule(layer_name)
    last_error: Exception | None = None
    for size in _probe_sizes(input_shape[1:], cells):
        try:
            return _measure_at(probe, layer, (input_shape[0], *size), forward_kwargs)
        except (RuntimeError, ValueError) as err:
            last_error = err
    raise RuntimeError(f"could not probe {layer_name}: {last_error}")


def _measure_at(probe: "nn.Module", layer: "nn.Module", input_shape: tuple[int, ...],
                forward_kwargs: dict[str, np.ndarray]) -> CellGeometry:
    import torch

    nd = len(input_shape) - 1
    captured: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.__setitem__("out", o))
    x = torch.ones((1, *input_shape), requires_grad=True)
    kwargs = {k: torch.ones((1, *v.shape[1 : v.ndim - nd], *input_shape[1:])) for k, v in forward_kwargs.items()}
    try:
        with torch.enable_grad():
            probe(x, **kwargs)
    finally:
        handle.remove()
    out = captured["out"]
    n = out.shape[2:]
    if len(n) != nd or min(n) < 2:
        raise ValueError(f"activation map {tuple(out.shape)} is too small to probe")
    picks = [(c // 2 - 1, c // 2) for c in n]  # two neighbouring cells near the centre, per axis
    length = input_shape[1:]
    centres = []
    for k in range(2):
        index = (0, slice(None), *[p[k] for p in picks])
        (grad,) = torch.autograd.grad(out[index].sum(), x, retain_graph=k == 0)
        g = grad[0].abs().sum(0).double().numpy()
        centres.append([_peak_centre(g.sum(axis=tuple(a for a in range(nd) if a != axis))) for axis in range(nd)])
    stride = tuple((centres[1][a] - centres[0][a]) % length[a] for a in range(nd))  # the probe wraps around
    expected = [s / c for s, c in zip(length, n)]
    if any(abs(st - e) > 0.25 * e for st, e in zip(stride, expected)):
        # e.g. a U-Net decoder: its up-sampling is not wrap-around, the bumps are not comparable
        raise ValueError(f"probe stride {stride} does not match the map ({expected})")
    origin = tuple(centres[0][a] - stride[a] * picks[a][0] for a in range(nd))
    return CellGeometry(origin, stride)


def _peak_centre(profile: np.ndarray) -> float:
    """Centre of the profile's top plateau (two equal maxima -> the half-pixel between them)."""
    top = np.flatnonzero(profile >= profile.max() * (1 - 1e-6))
    return float(top.mean())


def _uniform_copy(model: "nn.Module") -> "nn.Module":
    """float32 copy in eval mode: weights 1/fan-in, biases 0, norms identity, max-pools averaged,
    deformable offsets zero, circular padding; its input gradients then trace receptive fields only."""
    import torch
    from torch import nn

    probe = copy.deepcopy(model).float().cpu().eval()
    for module in list(probe.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
                setattr(module, child_name, _WrapAveragePool(child))
    for module in probe.modules():
        # wrap-around padding makes the probe a torus: no border cuts a receptive field short, so
        # every cell's bump is the same shape and small probe inputs measure exactly
        if isinstance(module, nn.modules.conv._ConvNd) and module.padding_mode == "zeros" and not isinstance(module, nn.modules.conv._ConvTransposeNd):
            if any(p > 0 for p in module.padding if isinstance(p, int)):
                module.padding_mode = "circular"
    with torch.no_grad():
        for name, module in probe.named_modules():
            weight = getattr(module, "weight", None)
            bias = getattr(module, "bias", None)
            is_norm = isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm))
            if isinstance(weight, torch.Tensor):
                if name.split(".")[-1] == "offset":
                    weight.zero_()
                elif is_norm:
                    weight.fill_(1.0)
                elif weight.dim() > 1:
                    weight.fill_(1.0 / weight[0].numel())
            if isinstance(bias, torch.Tensor):
                bias.zero_()
            if isinstance(module, nn.modules.batchnorm._NormBase) and module.running_mean is not None:
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
    for p in probe.parameters():
        p.requires_grad_(False)
    return probe


@functools.lru_cache(maxsize=None)
def _wrap_average_pool_class() -> type:
    import torch.nn.functional as F
    from torch import nn

    class WrapAveragePool(nn.Module):
        """A max- or average-pool's window as a plain average with wrap-around padding."""

        def __init__(self, pool: nn.Module):
            super().__init__()
            self.dims = int(type(pool).__name__[-2])
            as_tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * self.dims  # noqa: E731
            self.kernel, self.stride = as_tuple(pool.kernel_size), as_tuple(pool.stride or pool.kernel_size)
            self.pad = [p for p in reversed(as_tuple(pool.padding)) for _ in range(2)]
            self.ceil_mode = bool(pool.ceil_mode)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            if any(self.pad):
                x = F.pad(x, self.pad, mode="circular")
            pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self.dims - 1]
            return pool(x, self.kernel, self.stride, 0, self.ceil_mode)

    return WrapAveragePool


def _WrapAveragePool(pool: "nn.Module") -> "nn.Module":  # noqa: N802 - builds the lazily defined class
    return _wrap_average_pool_class()(pool)
