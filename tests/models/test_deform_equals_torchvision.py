"""The core-op deformable convolution equals torchvision's kernel (values and every gradient), so the
DResUNet weights trained with that kernel load unchanged; and it runs where the kernel would not."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d as torchvision_deform_conv2d

from covidviewer.models.layers.deform import DeformableConv2d, deform_conv2d


@pytest.mark.parametrize(("stride", "padding", "shape"), [(1, 1, (2, 5, 9, 11)), (2, 1, (2, 5, 9, 11)), (1, 0, (1, 3, 7, 7))])
def test_matches_torchvision_values_and_gradients(stride: int, padding: int, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, shape[1], 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    h_out = (shape[2] + 2 * padding - 3) // stride + 1
    w_out = (shape[3] + 2 * padding - 3) // stride + 1
    # offsets of several pixels: taps land between pixels and outside the image
    offsets = (torch.randn(shape[0], 18, h_out, w_out, dtype=torch.float64) * 3).requires_grad_()
    expected = torchvision_deform_conv2d(x, offsets, weight, bias, stride=stride, padding=padding)
    ours = deform_conv2d(x, offsets, weight, bias, stride, padding)
    assert torch.allclose(ours, expected, atol=1e-10)
    for a, b in zip(torch.autograd.grad(ours.sum(), [x, offsets, weight, bias]),
                    torch.autograd.grad(expected.sum(), [x, offsets, weight, bias])):
        assert torch.allclose(a, b, atol=1e-10)


def test_runs_channels_last_under_autocast_with_fp32_input() -> None:
    # the GPU trainer's setting: a channels_last fp32 film in, the offset branch in bf16 under autocast
    torch.manual_seed(0)
    layer = DeformableConv2d(4, 8).to(memory_format=torch.channels_last)
    torch.nn.init.normal_(layer.offset.weight, std=0.5)
    x = torch.randn(2, 4, 12, 12).contiguous(memory_format=torch.channels_last).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().mean().backward()
    assert y.shape == (2, 8, 12, 12) and torch.isfinite(y).all()
    assert x.grad is not None and layer.offset.weight.grad is not None and layer.conv.weight.grad.abs().sum() > 0
