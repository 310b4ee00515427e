"""Deformable convolution (Dai et al. 2017, "Deformable Convolutional Networks") with its offset branch.

The sampling is written with core torch ops (``grid_sample`` + one matrix product) rather than
torchvision's ``deform_conv2d`` kernel: on the lent H200 that kernel stopped the first DResUNet step
with "some elements of the input tensor and the written-to tensor refer to a single memory location"
(bf16 autocast, channels_last), and on CPU it refuses the bf16 offsets that autocast gives the offset
branch. The core ops run the same on every device and dtype; a test holds this equal to torchvision's
kernel, so weights trained with it load unchanged (the ``conv.weight`` key is kept).

The offset branch starts at zero, so an untrained deformable layer samples the regular grid exactly
like a plain convolution; training then learns the deformation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def deform_conv2d(x: torch.Tensor, offsets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  stride: int, padding: int) -> torch.Tensor:
    """torchvision.ops.deform_conv2d (one group, one offset group, dilation 1) from core ops.

    ``offsets`` is (N, 2*k*k, H_out, W_out), (dy, dx) per kernel tap in row-major tap order, as in
    torchvision. A tap lands at (h*stride - padding + i + dy, w*stride - padding + j + dx) and reads
    the input bilinearly with zeros outside: ``grid_sample(align_corners=True, padding_mode="zeros")``.
    """
    n, c, height, width = x.shape
    out_ch, _, kh, kw = weight.shape
    taps = kh * kw
    h_out, w_out = offsets.shape[-2:]
    dtype = offsets.dtype
    rows = torch.arange(h_out, device=x.device, dtype=dtype) * stride - padding
    cols = torch.arange(w_out, device=x.device, dtype=dtype) * stride - padding
    tap_i = torch.arange(kh, device=x.device, dtype=dtype).repeat_interleave(kw)
    tap_j = torch.arange(kw, device=x.device, dtype=dtype).repeat(kh)
    off = offsets.reshape(n, taps, 2, h_out, w_out)
    y = rows.view(1, 1, h_out, 1) + tap_i.view(1, taps, 1, 1) + off[:, :, 0]
    xx = cols.view(1, 1, 1, w_out) + tap_j.view(1, taps, 1, 1) + off[:, :, 1]
    # pixel -> [-1, 1] with align_corners=True (a 1-pixel axis has no span: its only pixel sits at 0)
    grid = torch.stack((xx * (2.0 / max(width - 1, 1)) - 1.0, y * (2.0 / max(height - 1, 1)) - 1.0), dim=-1)
    sampled = F.grid_sample(x, grid.reshape(n, taps * h_out, w_out, 2).to(x.dtype), mode="bilinear",
                            padding_mode="zeros", align_corners=True)  # (N, C, taps*H_out, W_out)
    columns = sampled.reshape(n, c * taps, h_out * w_out)
    out = torch.matmul(weight.reshape(out_ch, c * taps).to(x.dtype), columns).reshape(n, out_ch, h_out, w_out)
    return out if bias is None else out + bias.to(out.dtype).view(1, -1, 1, 1)


class _DeformKernel(nn.Module):
    """Holds the deformable kernel as ``weight`` (and ``bias``), the layout torchvision's DeformConv2d has."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, bias: bool):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return deform_conv2d(x, offsets, self.weight, self.bias, self.stride, self.padding)


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
        self.conv = _DeformKernel(in_channels, out_channels, kernel_size, stride, pad, bias)
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
        # sampling in fp32 whatever autocast gives (deform_conv2d samples on x's dtype): a bf16 position
        # of 100.3 px is off by 0.3 px
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.conv(x, offsets.to(x.dtype))
