"""The one classifier head shared by the CXR classifiers: global average pool, dropout, linear.

Global average pooling keeps the head independent of the input size (SEME-ResNet50's 512 x 512
input, the tiny test inputs) and makes classic CAM exact: the logits are a linear function of the
channel means of the last feature map.
"""
from __future__ import annotations

import torch
from torch import nn

from covidviewer.models.layers.factories import layer


class ClassifierHead(nn.Module):
    """GAP over every spatial axis -> flatten -> optional dropout -> Linear(in_features, num_classes).

    ``spatial_dims`` picks 2D (B, C, H, W) or 3D (B, C, D, H, W) pooling. ``forward(x, pre_logits=True)``
    returns the pooled (B, C) features instead of logits (timm's convention).
    """

    def __init__(self, in_features: int, num_classes: int, spatial_dims: int = 2, drop_rate: float = 0.0):
        super().__init__()
        self.in_features = in_features
        self.num_classes = num_classes
        self.global_pool = layer("avgpool", spatial_dims)(1)
        self.flatten = nn.Flatten(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.flatten(self.global_pool(x))
        if pre_logits:
            return x
        return self.fc(self.drop(x))
