"""Lung U-Net: size budget, odd-size skip padding, and masks put back on the original grid."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from covidviewer.models import create_model, get_spec
from covidviewer.models.unet import UNet, lung_probability

#: the window that leaves an image already in [0, 1] as it is
UNIT_WINDOW = (0.5, 1.0)


def test_under_eight_million_parameters() -> None:
    with torch.device("meta"):
        model = create_model("lung_unet")
    assert sum(p.numel() for p in model.parameters()) < 8_000_000


def test_odd_input_sizes_are_padded_back_to_the_skip_size() -> None:
    model = UNet(base_channels=4).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 37, 53))
    assert out.shape == (1, 1, 37, 53)


class ThresholdNet(nn.Module):
    """Stands in for a trained U-Net: logit = 50 * normalised input, so bright pixels are "lung"."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(50.0)
            self.conv.bias.zero_()
        self.spec = get_spec("lung_unet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_mask_lands_on_the_original_grid_for_a_non_square_image() -> None:
    # 300 x 180: "pad" fit puts it at 256 x 154 with side padding, which must not shift the mask
    image = np.zeros((300, 180), dtype=np.float32)
    image[40:260, 20:80] = 1.0  # a bright "lung" on the left
    net = ThresholdNet().train()
    mask = lung_probability(net, image, UNIT_WINDOW)
    assert mask.shape == image.shape and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    inside, outside = mask[60:240, 30:70], mask[:, 110:]
    assert inside.min() > 0.95 and outside.max() < 0.05
    assert net.training, "the caller's training mode must be restored"
    assert net.conv.weight.grad is None


def test_predict_runs_without_gradients() -> None:
    net = ThresholdNet()
    seen: list[bool] = []
    net.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    lung_probability(net, np.random.default_rng(0).random((40, 50), dtype=np.float32), UNIT_WINDOW)
    assert seen == [False]


def test_rejects_colour_or_volume_input() -> None:
    with pytest.raises(ValueError, match="single-channel"):
        lung_probability(ThresholdNet(), np.zeros((10, 10, 3), dtype=np.float32), UNIT_WINDOW)
