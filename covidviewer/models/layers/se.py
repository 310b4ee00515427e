"""Squeeze-and-excitation (Hu et al., 2018, "Squeeze-and-Excitation Networks"), 2D or 3D."""
from __future__ import annotations

import torch
from torch import nn

from covidviewer.models.layers.factories import layer


class SqueezeExcite(nn.Module):
    """Channel recalibration: GAP -> FC (C/r) -> ReLU -> FC (C) -> sigmoid -> scale.

    The FCs are 1x1 convolutions so the block works on any spatial rank.
    """

    def __init__(self, channels: int, spatial_dims: int = 2, reduction: int = 16, min_hidden: int = 4):
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        conv = layer("conv", spatial_dims)
        self.pool = layer("avgpool", spatial_dims)(1)
        self.fc1 = conv(channels, hidden, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = conv(hidden, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
        return x * w
