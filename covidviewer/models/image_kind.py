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

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.plain_cnn import PlainCNN
from covidviewer.models.registry import register_model
from covidviewer.models.spec import ExplainSpec, ModelSpec

IMAGE_KINDS = ("frontal chest radiograph", "lateral chest radiograph", "axial CT slice", "other")


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
def image_kind(**kwargs: object) -> PlainCNN:
    return PlainCNN(**{"num_classes": len(IMAGE_KINDS), **kwargs})  # type: ignore[arg-type]
