"""How tensors are stored: floats cast to the set's dtype (fp16 by default), or int8 kernels with one
fp32 scale per output channel (``<name>.__scale__``, covidviewer.models.quantize) and the rest fp16;
integer buffers keep their type. Loading turns each stored tensor back into floats."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from covidviewer.models.quantize import INT8_MIN_NUMEL, SCALE_SUFFIX, dequantize_int8, quantize_int8
from covidviewer.models.weights.format import WeightsError


def stored_tensors(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """State dict (parameters and buffers) on CPU, floats cast to ``dtype``, each with its own storage."""
    out: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        if t.is_floating_point() and dtype == torch.int8:
            if not torch.isfinite(t).all():
                raise ValueError(f"tensor {name} contains NaN or inf: refusing to save it")
            if t.dim() >= 2 and t.numel() >= INT8_MIN_NUMEL:
                t, out[name + SCALE_SUFFIX] = quantize_int8(t)
            else:
                t = t.to(torch.float16)
        elif t.is_floating_point():
            stored = t.to(dtype)
            if not torch.isfinite(stored).all():  # one pass; find out why only when it fails
                if not torch.isfinite(t).all():
                    raise ValueError(f"tensor {name} contains NaN or inf: refusing to save it")
                raise ValueError(f"tensor {name} overflows {dtype}: save with dtype=torch.float32")
            t = stored
        out[name] = t.contiguous().clone()  # safetensors refuses shared storage (tied weights, views)
    return out


def dequantized(tensors: dict[str, torch.Tensor], name: str, path: Path) -> torch.Tensor:
    """A stored tensor as floats: int8 with its ``.__scale__`` is dequantized, anything else as is."""
    t = tensors[name]
    scale = tensors.get(name + SCALE_SUFFIX)
    if scale is None:
        return t
    if t.dtype != torch.int8 or scale.shape != (t.shape[0],):
        raise WeightsError(f"{path}: tensor {name}: a scale needs int8 values and one scale per output channel")
    return dequantize_int8(t, scale)
