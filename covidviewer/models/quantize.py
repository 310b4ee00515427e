"""int8 storage of weight kernels: one fp32 scale per output channel, symmetric (max-abs / 127).

Half the bytes of fp16 for the kernels that hold nearly all of a network's weights; biases, norms
and tiny kernels stay fp16. Used by ``covidviewer.models.weights`` when a set is saved with
``dtype=torch.int8``; the scales travel as ``<name>.__scale__`` tensors next to their kernel.
Quantizing a dequantized kernel again gives the same int8 values (its largest value maps to 127).
"""
from __future__ import annotations

import torch

#: tensor-name suffix of an int8 tensor's per-output-channel scales
SCALE_SUFFIX = ".__scale__"
#: smaller float tensors (biases, norms, tiny kernels) stay fp16 in an int8 set
INT8_MIN_NUMEL = 1024


def quantize_int8(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 values, fp32 scale per output channel) with ``values * scale`` ~ ``t`` (symmetric)."""
    flat = t.detach().float().reshape(t.shape[0], -1)
    scale = (flat.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(flat / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q.reshape(t.shape), scale


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of ``quantize_int8`` (fp32)."""
    return (q.float().reshape(q.shape[0], -1) * scale.float()[:, None]).reshape(q.shape)
