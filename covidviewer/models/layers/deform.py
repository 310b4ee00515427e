"""Deformable convolution (Dai et al. 2017, "Deformable Convolutional Networks") with its offset branch.

Wraps torchvision.ops.DeformConv2d (which runs on CPU and GPU) with the regular convolution that
predicts the sampling offsets. The offset branch starts at zero, so an untrained deformable layer
samples the regular grid exactly like a plain convolution; training then learns the deformation.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import DeformConv2d


class DeformableConv2d(nn.Module):
    """``offset`` (plain Conv2d, zero-initialised) predicts 2*k*k offsets per position for ``conv``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = False,
    ):
        super().__init__()
        pad = kernel_size // 2 if padding is None else padding
        self.offset = nn.Conv2d(in_channels, 2 * kernel_size * kernel_size, kernel_size, stride, pad)
        self.conv = DeformConv2d(in_channels, out_channels, kernel_size, stride, pad, bias=bias)
        self.reset_offsets()

    def reset_offsets(self) -> None:
        """Zero the offset branch: the layer then samples the regular grid (a plain convolution)."""
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)  # type: ignore[arg-type]

    @property
    def weight(self) -> torch.Tensor:
        """The deformable kernel (so init loops can treat this like a Conv2d)."""
        return self.conv.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offsets = self.offset(x)
        if x.dtype in (torch.float32, torch.float64):
            return self.conv(x, offsets)
        # torchvision's CPU kernel has no bf16/fp16 path: run this layer in fp32 under autocast.
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.conv(x.float(), offsets.float())
