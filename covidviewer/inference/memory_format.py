"""On the CPU a 2D network runs in channels-last memory (N, H, W, C), which oneDNN's convolutions read faster.

Measured on the 2 CPU cores here (session 41, ``bench/bench_channels_last.py``: the installed weights at their
trained input size, both layouts in one process, medians of 15 forwards): in batches of 8, DResUNet 0.64 of its time
(a CT series is scanned in batches of 16), the lung U-Net 0.74, DPN-92 0.83, SE-ResNet50 0.97; one image at a time
(an analysis), the lung U-Net 0.84, DResUNet 0.87, DPN-92 and SE-ResNet50 as before. No network was slower beyond
the noise. The outputs agree to float rounding (a test checks shipped networks). LIME already ran its batches so
(``explain.lime_explainer.channels_last``); now every forward and backward on the CPU does. 3D networks keep their
layout (channels-last 3D was not measured), and so does every network on a GPU (not measured here).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


def for_device(model: "nn.Module", device: "torch.device") -> "nn.Module":
    """``model`` with its 4D weights in channels-last memory on the CPU; any other model or device as it is."""
    import torch

    if device.type != "cpu" or any(p.dim() == 5 for p in model.parameters()):
        return model
    return model.to(memory_format=torch.channels_last)
