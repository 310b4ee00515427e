"""Mirror check: is a frontal chest film hung as read, or stored mirrored left-right?

Not a paper model: the small plain CNN of the image-kind model (``covidviewer.models.image_kind``), with two
classes. Every chest X-ray classifier here was trained on films hung as read (the patient's right on the
viewer's left: heart, aortic knob and gastric bubble on the viewer's right) and answers differently on the same
film mirrored (session 35: the cascade changed its answer on 39 of 80 films, DPN-SENet and ``small_cnn`` on 19).
A PNG or JPEG says nothing of its sides, and a scanned or exported film can be mirrored; the predictor asks this
model, and a film it finds mirrored is read by the classifiers mirrored back (``inference.film_hanging``).
A heart on the patient's right (dextrocardia) looks the same to it as a mirrored film: the note says both.

Input: 128 x 128 grey image with ``fit="pad"``, the image's own default window, as the image-kind model's.
"""
from __future__ import annotations

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.plain_cnn import PlainCNN
from covidviewer.models.registry import register_model
from covidviewer.models.spec import ExplainSpec, ModelSpec

AS_HUNG, MIRRORED = "as hung", "mirrored"
FILM_SIDES = (AS_HUNG, MIRRORED)


@register_model(
    ModelSpec(
        name="film_mirror",
        version="1",
        task="classification",
        modality="ANY_2D",
        classes=FILM_SIDES,
        preprocess=Preprocess(kind="cxr", size=(128, 128), channels=1, fit="pad"),
        explain=ExplainSpec(cam_layers=("features",)),
        weights="film_mirror",
        paper="none: a small plain CNN (3x3 conv-BN-ReLU stages, global average pooling, linear) for the mirror check",
        description="Is a frontal chest film hung as read or stored mirrored? Mirrored films are read mirrored back",
    )
)
def film_mirror(**kwargs: object) -> PlainCNN:
    return PlainCNN(**{"num_classes": len(FILM_SIDES), **kwargs})  # type: ignore[arg-type]
