"""View model: was a frontal chest film taken front to back (AP, most often a portable film) or back to front (PA)?

Not a paper model: the small plain CNN of the image-kind model (``covidviewer.models.image_kind``), with two
classes. Every chest X-ray classifier here reads an AP film differently from a PA one (docs/SHORTCUT_HISTORY.md,
sessions 30-34: trained without NIH, ``small_cnn`` called 45% of NIH's AP normal films COVID-19 and 6% of its PA
ones; every model finds 0.91 of the AP COVID-19 validation films and 0.68-0.77 of the PA ones). The view checks
(``covidviewer.inference.view_check``) say so beside an answer where the DICOM header names the view; a PNG or JPEG
names none, and the predictor asks this model then (``covidviewer.inference.film_view``).

Input: 128 x 128 grey image with ``fit="pad"``, the image's own default window, as the image-kind model's (one
input serves both).
"""
from __future__ import annotations

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.plain_cnn import PlainCNN
from covidviewer.models.registry import register_model
from covidviewer.models.spec import ExplainSpec, ModelSpec

FILM_VIEWS = ("AP", "PA")


@register_model(
    ModelSpec(
        name="film_view",
        version="1",
        task="classification",
        modality="ANY_2D",
        classes=FILM_VIEWS,
        preprocess=Preprocess(kind="cxr", size=(128, 128), channels=1, fit="pad"),
        explain=ExplainSpec(cam_layers=("features",)),
        weights="film_view",
        paper="none: a small plain CNN (3x3 conv-BN-ReLU stages, global average pooling, linear) for the view of a film "
        "whose file names none",
        description="Was a frontal chest film taken AP (often portable) or PA? Asked where the file names no view",
    )
)
def film_view(**kwargs: object) -> PlainCNN:
    return PlainCNN(**{"num_classes": len(FILM_VIEWS), **kwargs})  # type: ignore[arg-type]
