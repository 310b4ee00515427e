"""Deformable convolution under CPU bf16 autocast (torchvision has no bf16 CPU kernel)."""
from __future__ import annotations

import torch

from covidviewer.models.layers.deform import DeformableConv2d


def test_deformable_conv_runs_and_backprops_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    layer = DeformableConv2d(4, 8)
    x = torch.randn(1, 4, 12, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(torch.nn.functional.conv2d(x, torch.randn(4, 4, 1, 1)))  # bf16 input
    assert y.shape == (1, 8, 12, 12) and torch.isfinite(y).all()
    y.float().sum().backward()
    assert layer.conv.weight.grad is not None
