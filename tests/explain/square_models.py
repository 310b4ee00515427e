"""Hand-built tiny models whose evidence is known: bright voxels push the "square" class up."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.spec import ExplainSpec, LungMaskUse, ModelSpec

CLASSES = ("no square", "square")


class BrightnessNet(nn.Module):
    """2x2(x2) mean-filter conv, stride 2, + ReLU -> GAP -> linear: evidence = bright pixels (above
    the normalised zero level). Kernel = stride, so activation cell i covers input pixels 2i, 2i+1
    exactly and a map's position errors come from the grid mapping, not from the network.
    ``last_depth_attention`` (3D) is a sigmoid of each depth's mean feature, like DARNet's gate."""

    def __init__(self, spatial_dims: int = 2, channels: int = 1, binary_logit: bool = False, extra_arg: bool = False):
        super().__init__()
        conv_cls = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        self.conv = conv_cls(channels, 4, 2, stride=2)
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / self.conv.weight[0].numel())
            self.conv.bias.fill_(0.0)
        self.features = nn.Sequential(self.conv, nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1) if spatial_dims == 2 else nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(4, 1 if binary_logit else 2)
        with torch.no_grad():
            if binary_logit:
                self.fc.weight.fill_(4.0)
                self.fc.bias.fill_(-0.2)
            else:
                self.fc.weight.copy_(torch.tensor([[-4.0] * 4, [4.0] * 4]))
                self.fc.bias.copy_(torch.tensor([0.2, -0.2]))
        self.extra_arg = extra_arg
        self.last_depth_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.extra_arg and lung_mask is None:
            raise ValueError("this test model needs its lung_mask argument")
        f = self.features(x)
        if x.dim() == 5:
            self.last_depth_attention = torch.sigmoid(40 * f.mean(dim=(3, 4)) - 2).detach()
        return self.fc(self.pool(f).flatten(1))


def tiny_spec(
    name: str = "tiny_cxr",
    kind: str = "cxr",
    size: tuple[int, ...] = (64, 64),
    fit: str = "crop",
    binary_logit: bool = False,
    lung_mask: LungMaskUse = "none",
) -> ModelSpec:
    modality = {"cxr": "CXR", "ct_slice": "CT_SLICE", "ct_volume": "CT_VOLUME"}[kind]
    window = (-600.0, 1500.0) if kind == "ct_volume" else None
    return ModelSpec(
        name=name,
        version="0-test",
        task="classification",
        modality=modality,
        classes=CLASSES,
        preprocess=Preprocess(kind=kind, size=size, window=window, fit=fit),
        lung_mask=lung_mask,
        binary_logit=binary_logit,
        weights=name,
        explain=ExplainSpec(
            cam_layers=("features",),
            classifier="fc",
            default_method="cam" if kind == "ct_volume" else "gradcam",
            depth_attention="last_depth_attention" if kind == "ct_volume" else "",
        ),
    )


def square_image(shape: tuple[int, int] = (300, 200), box: tuple[int, int, int, int] = (120, 180, 30, 90)) -> np.ndarray:
    """Dark (H, W) image with one bright rectangle rows box[0]:box[1], cols box[2]:box[3]."""
    image = np.zeros(shape, dtype=np.float32)
    image[box[0] : box[1], box[2] : box[3]] = 1.0
    return image


CUBE = (slice(16, 24), slice(8, 24), slice(20, 32))


def cube_volume(shape: tuple[int, int, int] = (32, 40, 36), box: tuple[slice, ...] = CUBE) -> np.ndarray:
    """Air (-1000 HU) volume with one soft-tissue (+40 HU) block (slices 16..23 by default)."""
    vol = np.full(shape, -1000.0, dtype=np.float32)
    vol[box] = 40.0
    return vol


class PaddedStrideNet(nn.Module):
    """Three 3x3 convs with stride 2 and padding 1 (ResNet-style down-sampling): activation cell i
    is centred on model pixel 8i, not 8i + 3.5 as centre-aligned up-sampling assumes."""

    def __init__(self) -> None:
        super().__init__()
        convs = [nn.Conv2d(1 if i == 0 else 4, 4, 3, stride=2, padding=1) for i in range(3)]
        with torch.no_grad():
            for conv in convs:
                conv.weight.fill_(1.0 / conv.weight[0].numel())
                conv.bias.fill_(0.0)
        self.features = nn.Sequential(*[m for c in convs for m in (c, nn.ReLU())])
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-4.0] * 4, [4.0] * 4]))
            self.fc.bias.copy_(torch.tensor([0.2, -0.2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))
