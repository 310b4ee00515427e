"""Training films the app would not give this model: the input gate's own check on every row before training.

A researcher's folder of chest films often holds lateral films, a CT slice, a scanned request form or a film stored
upside down or as a negative. The app refuses such images before a model sees them (``covidviewer.inference.gate
.check_content``: the image-kind model, at the gate's own bars), but a network trained on them learns from them.
``gate_findings`` asks the same check of every row of a 2D chest model's csvs, each image as a file with no DICOM
tags would be judged (the trainer keeps pixels, not headers: the gate's stricter rule), with the app's two-lung check
on a film the image-kind model is unsure of (session 51: a clavicle film scored 0.55 for a frontal chest film), and
``data.kind_check`` decides what follows: "warn" (the default: listed in the run log, kept), "skip" (left out as bad rows, as an
unreadable file is) or "off". Without the image-kind model's weights nothing is checked, and the log says so.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from trainer.data.images import ImageCache
    from trainer.data.labels import Row

KIND_CHECK_MODES = ("warn", "skip", "off")
IMAGE_KIND_MODEL = "image_kind"
LUNG_UNET_MODEL = "lung_unet"


def gate_findings(rows: Sequence["Row"], cache: "ImageCache", spec) -> list[tuple["Row", str]] | None:  # type: ignore[no-untyped-def]
    """(row, why the gate would refuse it) for every row the app would not give ``spec``'s model; None when the
    image-kind model is not installed (nothing can be checked)."""
    from covidviewer.inference.gate import EXPECTED_KIND, check_content, check_lung_pair, needs_lung_pair
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
    lungs = _TwoLungs()
    found = []
    for row in rows:
        pixels, window = cache.get(row.path)
        volume = Volume(pixels=pixels[None], default_window=(float(window[0]), float(window[1])))
        kind = classify_image_kind(model, kind_spec, volume)
        decision = check_content(volume, spec, kind)
        if decision.accepted and needs_lung_pair(spec, kind) and lungs.available:  # as ``Predictor._check`` asks it
            decision = check_lung_pair(kind, lungs(pixels, window))
        if not decision.accepted:
            found.append((row, decision.reason.removeprefix("not analysed: ")))
    return found


class _TwoLungs:
    """Whether the shipped lung U-Net finds two lungs side by side on a film (``covidviewer.imaging.lung_box
    .shows_two_lungs``), the network loaded on the first film that needs it: only films the image-kind model is unsure
    of do (4 of the 1,651 real frontal films of both packs, each with two lungs)."""

    def __init__(self) -> None:
        self._unet = None
        self.available = True

    def __call__(self, pixels, window) -> bool:  # type: ignore[no-untyped-def]
        import torch

        from covidviewer.imaging.lung_box import shows_two_lungs
        from covidviewer.models.unet import lung_mask
        from covidviewer.models.weights import WeightsError
        from covidviewer.models.weights.installed import load_trained_model

        if self._unet is None:
            try:
                with torch.random.fork_rng(devices=[]):
                    self._unet = load_trained_model(LUNG_UNET_MODEL)
            except WeightsError:
                self.available = False
                return True  # without the U-Net the app does not ask either
        return shows_two_lungs(lung_mask(self._unet, pixels, (float(window[0]), float(window[1]))))
