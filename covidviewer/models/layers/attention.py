"""Attention gates shared by the CT networks: ECA, sSE, ECAsE (2D or 3D) and DARNet's depth attention.

- ECA: Wang et al. 2020, "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks".
- sSE: Roy et al. 2018, "Concurrent Spatial and Channel Squeeze & Excitation in Fully Convolutional Networks".
- Depth attention: Shi et al. 2021, DARNet (see covidviewer.models.darnet).

Channel squeeze-excitation itself lives in covidviewer.models.layers.se.SqueezeExcite.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from covidviewer.models.layers.factories import layer


def eca_kernel_size(channels: int, gamma: float = 2.0, beta: float = 1.0) -> int:
    """ECA-Net's adaptive 1D kernel: the odd number nearest to log2(C)/gamma + beta/gamma."""
    k = int(abs(math.log2(channels) / gamma + beta / gamma))
    return k if k % 2 else k + 1


class EfficientChannelAttention(nn.Module):
    """ECA: pool each channel, a 1D conv across neighbouring channels, sigmoid, scale.

    ``use_max`` adds a max-pooled descriptor that goes through the same 1D conv (as in CBAM) and is
    summed with the average-pooled one before the sigmoid; the DResUNet thesis uses both.
    Works for any spatial rank, so ``spatial_dims`` is not needed.
    """

    def __init__(self, channels: int, kernel_size: int | None = None, use_max: bool = True):
        super().__init__()
        k = kernel_size or eca_kernel_size(channels)
        self.use_max = use_max
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=k // 2, bias=False)
        self.gate = nn.Sigmoid()

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, ...) -> channel gate (B, C) in (0, 1)."""
        flat = x.flatten(2)
        a = self.conv(flat.mean(-1).unsqueeze(1))
        if self.use_max:
            a = a + self.conv(flat.amax(-1).unsqueeze(1))
        return self.gate(a).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weights(x)
        return x * w.view(*w.shape, *([1] * (x.dim() - 2)))


class SpatialSqueezeExcite(nn.Module):
    """sSE: a 1x1 convolution squeezes channels to one map, sigmoid, scale every position."""

    def __init__(self, channels: int, spatial_dims: int = 2):
        super().__init__()
        self.conv = layer("conv", spatial_dims)(channels, 1, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.conv(x))


class ECAsE(nn.Module):
    """ECAsE: concurrent ECA channel gate (max + average pooling) and sSE spatial gate.

    The two recalibrated maps are summed, as Roy et al. combine cSE and sSE in scSE; ECA replaces
    the fully-connected cSE so the block adds only ``k + C + 1`` parameters.
    """

    def __init__(self, channels: int, spatial_dims: int = 2, use_max: bool = True):
        super().__init__()
        self.channel = EfficientChannelAttention(channels, use_max=use_max)
        self.spatial = SpatialSqueezeExcite(channels, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel(x) + self.spatial(x)


class DepthAttention(nn.Module):
    """DARNet depth attention on (B, C, D, H, W): one weight per (channel, slice) map.

    GAP over H and W gives a C x D descriptor; FC (C*D -> C*D/r) -> ReLU -> FC (-> C*D) -> sigmoid
    scales each (channel, depth) map. Shi et al. set r = C, so the hidden layer has D units; the FC
    sizes fix the depth, so the block is built for one ``depth`` and refuses any other.

    After each forward, ``last_weights`` holds the detached (B, C, D) gate for display
    (mean over C = a per-slice importance strip).
    """

    def __init__(self, channels: int, depth: int, reduction: int | None = None):
        super().__init__()
        self.channels, self.depth = channels, depth
        hidden = max(channels * depth // (reduction or channels), 1)
        self.fc1 = nn.Linear(channels * depth, hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels * depth)
        self.gate = nn.Sigmoid()
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, d = x.shape[:3]
        if x.dim() != 5 or (c, d) != (self.channels, self.depth):
            raise ValueError(
                f"depth attention built for (C={self.channels}, D={self.depth}) got input {tuple(x.shape)}; "
                "build the model with the input depth it will see"
            )
        squeezed = x.mean(dim=(3, 4)).flatten(1)
        w = self.gate(self.fc2(self.act(self.fc1(squeezed)))).view(b, c, d)
        self.last_weights = w.detach()
        return x * w[..., None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, depth={self.depth}"
