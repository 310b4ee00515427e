"""Lung U-Net: the segmenter whose masks feed Cascade-SEMEnet stage 2 and the guided-attention VGG.

Ronneberger, O., Fischer, P., Brox, T. "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015. Layout of the widely used PyTorch version: DoubleConv (3x3 conv, BN,
ReLU, twice), Down (2x2 max-pool + DoubleConv), Up (bilinear x2 up-sampling, pad to the skip's
size, concatenate, DoubleConv), OutConv (1x1). With bilinear up-sampling the deepest level has
half the channels so the concatenations stay balanced.

Widths start at 32 (32, 64, 128, 256, 256) instead of 64: 4.3 M parameters, under the ~8 M budget.
One output channel: the lung logit (sigmoid -> probability).

Input: 256 x 256 grey radiograph, ``fit="pad"``: the long side goes to 256 and the rest is zero
padded, so the lungs keep their aspect ratio and no part of the field is cropped away (a cropped
border would get no mask on the original grid). ``lung_probability`` returns the probability on
the original pixel grid through the shared ``Grid2D``; ``lung_mask`` thresholds it at 0.5, and that
0/1 mask is what every model input gets, in the app and in the trainer.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.imaging.preprocess import Preprocess, prepare_image
from covidviewer.imaging.window_presets import film_reading_window
from covidviewer.models.registry import get_spec, register_model
from covidviewer.models.spec import ExplainSpec, ModelSpec


class DoubleConv(nn.Module):
    """(3x3 conv -> BN -> ReLU) x 2."""

    def __init__(self, in_chs: int, out_chs: int, mid_chs: int | None = None):
        super().__init__()
        mid_chs = mid_chs or out_chs
        self.block = nn.Sequential(
            nn.Conv2d(in_chs, mid_chs, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_chs),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_chs, out_chs, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Down(nn.Module):
    """2x2 max-pool then DoubleConv."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_chs, out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class Up(nn.Module):
    """Bilinear x2 up-sampling, zero-pad to the skip's size (odd sizes), concatenate, DoubleConv."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConv(in_chs, out_chs, in_chs // 2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """1x1 conv to the output logits."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """Four-level U-Net with bilinear decoder; returns (B, out_chans, H, W) logits."""

    def __init__(self, in_chans: int = 1, out_chans: int = 1, base_channels: int = 32):
        super().__init__()
        c = base_channels
        self.inc = DoubleConv(in_chans, c)
        self.down1 = Down(c, 2 * c)
        self.down2 = Down(2 * c, 4 * c)
        self.down3 = Down(4 * c, 8 * c)
        self.down4 = Down(8 * c, 8 * c)  # bilinear: the bottleneck keeps 8c so Up sees 16c in
        self.up1 = Up(16 * c, 4 * c)
        self.up2 = Up(8 * c, 2 * c)
        self.up3 = Up(4 * c, c)
        self.up4 = Up(2 * c, c)
        self.outc = OutConv(c, out_chans)
        kaiming_normal_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last decoder features (B, base_channels, H, W)."""
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.up4(x, x1)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.outc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))



def lung_probability(model: nn.Module, pixels: np.ndarray, default_window: tuple[float, float]) -> np.ndarray:
    """Lung probability (H, W) float32 in [0, 1] on the original grid of a radiograph given in its
    own units (``default_window`` is its VOI window; (0.5, 1.0) for an image already in [0, 1]; a film of more than 256
    grey levels is read through its auto window instead, ``imaging.window_presets.film_reading_window``).

    The one way the app, the cascade and the trainer's mask collection turn a film into lungs. The
    input is ``prepare_image`` with the U-Net's own spec, exactly as the trainer's segmentation
    dataset fed it in training; runs without gradients in eval mode (the model's previous mode is
    restored) and maps back with ``Grid2D.to_original``.
    """
    spec: ModelSpec = getattr(model, "spec", None) or get_spec("lung_unet")
    pixels = np.asarray(pixels, dtype=np.float32)
    x, grid = prepare_image(pixels, spec.preprocess, film_reading_window(pixels, default_window))
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(x)[None].to(device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
    prob = torch.sigmoid(logits[0, 0].float()).cpu().numpy()
    return np.clip(grid.to_original(prob), 0.0, 1.0).astype(np.float32)



#: probability above which a pixel is lung in every model input (app and trainer)
LUNG_THRESHOLD = 0.5
#: bumped whenever the way a film becomes a mask changes, so the trainer's mask store recomputes (2: a film of more
#: than 256 grey levels is read through its auto window, ``imaging.window_presets.film_reading_window``)
MASK_RULE_VERSION = 2


def lung_mask(model: nn.Module, pixels: np.ndarray, default_window: tuple[float, float]) -> np.ndarray:
    """(H, W) float32 0/1 lung mask on the original grid: ``lung_probability`` > ``LUNG_THRESHOLD``.

    The one mask the models are fed (lung-masked image, mask-gated features, lung crop), in the app,
    the cascade and the trainer's mask collection alike: networks trained on 0/1 masks answered
    differently when the app gave them the soft probability (the cascade's stage 2: p(COVID-19) 0.87
    in training's path, 0.60 in the app's, for the same film).
    """
    return (lung_probability(model, pixels, default_window) > LUNG_THRESHOLD).astype(np.float32)

@register_model(
    ModelSpec(
        name="lung_unet",
        version="1",
        task="segmentation",
        modality="CXR",
        classes=("background", "lung"),
        preprocess=Preprocess(kind="cxr", size=(256, 256), channels=1, fit="pad"),
        explain=ExplainSpec(cam_layers=("up4",)),
        binary_logit=True,
        weights="lung_unet",
        paper="Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015",
        description="Lung field segmentation (1 logit per pixel) feeding the cascade and the guided-attention VGG",
    )
)
def lung_unet(**kwargs: object) -> UNet:
    return UNet(in_chans=1, out_chans=1, **kwargs)  # type: ignore[arg-type]
