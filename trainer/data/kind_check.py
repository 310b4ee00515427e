"""Training films the app would not give this model: the input gate's own check on every row before training.

A researcher's folder of chest films often holds lateral films, a CT slice, a scanned request form or a film stored
upside down or as a negative. The app refuses such images before a model sees them (``covidviewer.inference.gate
.check_content``: the image-kind model, at the gate's own bars), but a network trained on them learns from them.
``gate_findings`` asks the same check of every row of a 2D chest model's csvs, each image as a file with no DICOM
tags would be judged (the trainer keeps pixels, not headers: the gate's stricter rule), and ``data.kind_check``
decides what follows: "warn" (the default: listed in the run log, kept), "skip" (left out as bad rows, as an
unreadable file is) or "off". Without the image-kind model's weights nothing is checked, and the log says so.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from trainer.data.images import ImageCache
    from trainer.data.labels import Row

KIND_CHECK_MODES = ("warn", "skip", "off")
IMAGE_KIND_MODEL = "image_kind"


def gate_findings(rows: Sequence["Row"], cache: "ImageCache", spec) -> list[tuple["Row", str]] | None:  # type: ignore[no-untyped-def]
    """(row, why the gate would refuse it) for every row the app would not give ``spec``'s model; None when the
    image-kind model is not installed (nothing can be checked)."""
    from covidviewer.inference.gate import EXPECTED_KIND, check_content
    from covidviewer.inference.image_kind import classify_image_kind
    from covidviewer.io.volume import Volume
    from covidviewer.models import get_spec
    from covidviewer.models.weights import WeightsError
    from covidviewer.models.weights.installed import load_trained_model

    if spec.modality not in EXPECTED_KIND or spec.preprocess.kind == "ct_volume":
        return []
    import torch

    try:
        with torch.random.fork_rng(devices=[]):  # building the network draws its random start: a seeded run's stays as it was
            model = load_trained_model(IMAGE_KIND_MODEL)
    except WeightsError:
        return None
    kind_spec = get_spec(IMAGE_KIND_MODEL)
    found = []
    for row in rows:
        pixels, window = cache.get(row.path)
        volume = Volume(pixels=pixels[None], default_window=(float(window[0]), float(window[1])))
        decision = check_content(volume, spec, classify_image_kind(model, kind_spec, volume))
        if not decision.accepted:
            found.append((row, decision.reason.removeprefix("not analysed: ")))
    return found
