"""Run the image-kind model (``covidviewer.models.image_kind``) on the 2D image a model would analyse.

The torch half of the gate's content check: ``classify_image_kind`` returns the torch-free
``ImageKind`` that ``covidviewer.inference.gate.check_input`` judges. The image goes through the
model's own spec preprocessing (``inference.inputs``, the one path the trainer used), in ``reading_window``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from covidviewer.imaging.ct_lungs import aerated_lung_share, chest_shape
from covidviewer.imaging.window_presets import uses_hu
from covidviewer.imaging.windowing import window_to_uint8
from covidviewer.inference.gate import CT_SLICE_KIND, ImageKind
from covidviewer.inference.inputs import prepare_plane_input, reading_window, reads_ct

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec


def kind_plane_index(volume: "Volume", spec: "ModelSpec", slice_index: int | None = None) -> int:
    """Which slice a model analyses: the only one, the requested one (CT-slice models), else the middle."""
    if volume.shape[0] == 1:
        return 0
    if spec.modality == "CT_SLICE" and slice_index is not None and 0 <= slice_index < volume.shape[0]:
        return int(slice_index)
    return volume.shape[0] // 2


def gate_input(volume: "Volume", spec: "ModelSpec", index: int = 0) -> np.ndarray:
    """The (C, H, W) model input of the gate's small networks for slice ``index``: the spec's own preprocessing, the
    window the model reads the image in (``reading_window``: a CT slice in HU through the CT models' lung window, a film
    of more than 256 grey levels through its auto window as the radiograph models read it, any other image through its
    file's). The image-kind model and the mirror check share it (one shrink of a large film)."""
    window = reading_window(volume, reads_ct(spec))
    return prepare_plane_input(np.asarray(volume.pixels[index], dtype=np.float32), spec.preprocess, window).tensor


def gate_probabilities(model: "nn.Module", x: np.ndarray) -> np.ndarray:
    """Class probabilities of one of the gate's small networks (image kind, mirror check) on its ``gate_input``."""
    import torch

    param = next(model.parameters())
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None].to(device=param.device, dtype=param.dtype))
    return torch.softmax(logits[0].float(), dim=0).cpu().numpy()


def classify_image_kind(
    model: "nn.Module", spec: "ModelSpec", volume: "Volume", index: int = 0, x: np.ndarray | None = None
) -> ImageKind | None:
    """The image-kind verdict on slice ``index`` of ``volume`` (``x``: its ``gate_input`` where already made); None
    for colour images (refused anyway)."""
    if volume.is_rgb:
        return None
    plane = np.asarray(volume.pixels[index], dtype=np.float32)
    probs = gate_probabilities(model, gate_input(volume, spec, index) if x is None else x)
    top = int(np.argmax(probs))
    kind = spec.classes[top]
    body = solid = encloses = None
    if kind == CT_SLICE_KIND:  # the model cannot weigh size or shape: is there a body in it, shaped like a chest?
        body, solid, encloses = chest_shape(window_to_uint8(plane, *reading_window(volume, reads_ct(spec))))
    lungs = aerated_lung_share(plane) if uses_hu(volume) else None  # does it hold lung, whatever the model says?
    return ImageKind(
        kind=kind,
        score=float(probs[top]),
        probabilities={c: float(p) for c, p in zip(spec.classes, probs)},
        slice_index=None if volume.shape[0] == 1 else index,
        body_share=body,
        lung_share=lungs,
        solid_share=solid,
        encloses_lungs=encloses,
    )
