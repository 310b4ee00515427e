"""Upright check: is a frontal chest film upright, or stored upside down (turned 180 degrees)?

Not a paper model: the small plain CNN of the image-kind model (``covidviewer.models.image_kind``), with two classes,
as the mirror check (``covidviewer.models.film_mirror``). The image-kind model reads a film turned by a quarter as
"other", and the predictor turns it back; but it takes many films turned upside down for frontal films as they are
(session 50: 53 of 1,651 real films score 0.95 or more upside down), so the classifiers, all trained on upright films,
read those as stored. This model learnt up from down on every frontal film of the packs, each upright and turned; a
film it is sure is upside down is read turned back (``inference.film_hanging``). A film flipped top to bottom is a
film turned and mirrored: turned back, the mirror check then finds its sides.

Input: 128 x 128 grey image with ``fit="pad"``, the image's own default window, as the image-kind model's.
"""
from __future__ import annotations

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.plain_cnn import PlainCNN
from covidviewer.models.registry import register_model
from covidviewer.models.spec import ExplainSpec, ModelSpec

UPRIGHT, UPSIDE_DOWN = "upright", "upside down"
FILM_WAYS_UP = (UPRIGHT, UPSIDE_DOWN)


@register_model(
    ModelSpec(
        name="film_upright",
        version="1",
        task="classification",
        modality="ANY_2D",
        classes=FILM_WAYS_UP,
        preprocess=Preprocess(kind="cxr", size=(128, 128), channels=1, fit="pad"),
        explain=ExplainSpec(cam_layers=("features",)),
        weights="film_upright",
        paper="none: a small plain CNN (3x3 conv-BN-ReLU stages, global average pooling, linear) for the upright check",
        description="Is a frontal chest film upright or stored upside down? Upside-down films are read turned back",
    )
)
def film_upright(**kwargs: object) -> PlainCNN:
    return PlainCNN(**{"num_classes": len(FILM_WAYS_UP), **kwargs})  # type: ignore[arg-type]
