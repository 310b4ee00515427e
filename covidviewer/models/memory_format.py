"""On the CPU a 2D network runs in channels-last memory (N, H, W, C), which oneDNN's convolutions read faster.

Measured on the 2 CPU cores here (session 41, ``bench/bench_channels_last.py``: the installed weights at their
trained input size, both layouts in one process, medians of 15 forwards): in batches of 8, DResUNet 0.64 of its time
(a CT series is scanned in batches of 16), the lung U-Net 0.74, DPN-92 0.83, SE-ResNet50 0.97; one image at a time
(an analysis), the lung U-Net 0.84, DResUNet 0.87, DPN-92 and SE-ResNet50 as before. No network was slower beyond
the noise. The outputs agree to float rounding (a test checks shipped networks). LIME's batches ran so before
(``channels_last``, which moved here in session 41); now so do every forward and backward of the app's loaded
networks on the CPU (``for_device``, in the model store) and the trainer's evaluation passes on the CPU
(``channels_last_on_cpu``, undone after: an export saves the same network's tensors; ``trainer evaluate dresunet``
0.67 of its time). 3D networks keep their layout (channels-last 3D was not measured), and so does every loaded
network on a GPU (not measured here).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, ContextManager, Iterator

import torch

if TYPE_CHECKING:
    from torch import nn


def is_2d_on_cpu(model: "nn.Module", device: torch.device) -> bool:
    """Whether channels-last was measured for ``model`` on ``device``: a 2D network (no 5D weight) on the CPU."""
    return device.type == "cpu" and not any(p.dim() == 5 for p in model.parameters())


def for_device(model: "nn.Module", device: torch.device) -> "nn.Module":
    """``model`` with its 4D weights in channels-last memory on the CPU; any other model or device as it is."""
    return model.to(memory_format=torch.channels_last) if is_2d_on_cpu(model, device) else model


def channels_last_on_cpu(model: "nn.Module", device: torch.device) -> ContextManager[None]:
    """``channels_last(model)`` where ``for_device`` would convert it; nothing elsewhere."""
    return channels_last(model) if is_2d_on_cpu(model, device) else nullcontext()


@contextmanager
def channels_last(model: "nn.Module") -> Iterator[None]:
    """Run ``model`` with channels-last 4-D parameters (oneDNN's fast path for convolutions on a CPU),
    then restore the parameters' own layout (other methods share the loaded model; an export saves them)."""
    params = [p for p in model.parameters() if p.dim() == 4]
    was_contiguous = [p.is_contiguous() for p in params]
    model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        for p, plain in zip(params, was_contiguous):
            if plain and not p.is_contiguous():
                p.data = p.data.contiguous()
