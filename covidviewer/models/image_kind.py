"""Image-kind model: what a 2D image is (frontal / lateral chest radiograph, axial CT slice, other).

Not a paper model: a small plain CNN (VGG-style 3x3 conv -> BN -> ReLU stages with stride-2
down-sampling, global average pooling, one linear layer), written for the input gate
(``covidviewer.inference.gate``). A PNG or JPEG carries no modality, so the gate asks this model
whether the pixels are the kind of image a COVID-19 classifier was trained on before it runs one.

Classes (``IMAGE_KINDS``): "frontal chest radiograph", "lateral chest radiograph", "axial CT slice",
"other" (everything else: head CT, MR, ultrasound, nuclear medicine, photographs, and chest films
rotated, inverted or cropped to a corner). A head CT slice is "other": it is an axial CT slice but
not a chest, and the chest models must refuse it.

Input: 128 x 128 grey image with ``fit="pad"`` (the long side goes to 128, the aspect ratio is kept:
a wide photograph does not look like a square film), the image's own default window. Widths
16-32-64-128, 0.15 M parameters, about 35 M multiply-adds: a few milliseconds on one CPU core.
"""
from __future__ import annotations

import torch
from torch import nn

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.models.registry import register_model
from covidviewer.models.spec import ExplainSpec, ModelSpec

IMAGE_KINDS = ("frontal chest radiograph", "lateral chest radiograph", "axial CT slice", "other")


class ConvBnAct(nn.Sequential):
    """3x3 conv (no bias) -> BN -> ReLU."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(inplace=True),
        )


class ImageKindNet(nn.Module):
    """Plain CNN: a stride-2 stem, then per width a stride-2 conv and (but the last) a stride-1 conv.

    ``forward_features`` -> (B, widths[-1], H/16, W/16); ``forward_head`` pools and classifies.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = len(IMAGE_KINDS),
        widths: tuple[int, ...] = (16, 32, 64, 128),
        drop_rate: float = 0.2,
    ):
        super().__init__()
        layers: list[nn.Module] = [ConvBnAct(in_chans, widths[0], stride=2)]
        for i, (prev, width) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(ConvBnAct(prev, width, stride=2))
            if i < len(widths) - 2:
                layers.append(ConvBnAct(width, width))
        self.features = nn.Sequential(*layers)
        self.num_features = widths[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(widths[-1], num_classes)
        kaiming_normal_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.fc(self.drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    ModelSpec(
        name="image_kind",
        version="1",
        task="classification",
        modality="ANY_2D",
        classes=IMAGE_KINDS,
        preprocess=Preprocess(kind="cxr", size=(128, 128), channels=1, fit="pad"),
        explain=ExplainSpec(cam_layers=("features",)),
        weights="image_kind",
        paper="none: a small plain CNN (3x3 conv-BN-ReLU stages, global average pooling, linear) for the input gate",
        description="What a 2D image is (frontal / lateral chest radiograph, axial CT slice, other): the input gate's content check",
    )
)
def image_kind(**kwargs: object) -> ImageKindNet:
    return ImageKindNet(**kwargs)  # type: ignore[arg-type]
