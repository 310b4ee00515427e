"""From a loaded Volume to a model's input, through the ONE preprocessing path (imaging.preprocess).

* CXR: the radiograph with the Volume's default window (VOI; MONOCHROME1 already inverted by io)
  -> [0, 1], CLAHE / lung masking / fit as the spec says.
* CT slice: one axial slice (the middle one unless the caller picks), windowed per spec.
* CT volume: ``prepare_volume`` to the spec's (D, H, W), mapped back through ``Grid3D``.
* Lung masks come from the lung U-Net on the ORIGINAL grid (``predict_lung_mask``) and go into
  the image (``preprocess.lung_mask``), choose the analysed lung box (``preprocess.lung_crop``),
  or go to ``forward(..., lung_mask=...)``
  (``spec.extra["forward_takes_lung_mask"]``), resized onto the model grid the same way.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from covidviewer.explain.base import ModelInput
from covidviewer.imaging.preprocess import Grid2D, prepare_image, prepare_volume

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec


def takes_lung_mask_argument(spec: "ModelSpec") -> bool:
    return bool(spec.extra.get("forward_takes_lung_mask"))


def needs_lung_mask(spec: "ModelSpec") -> bool:
    """True when a model cannot run without the lung U-Net's mask."""
    return bool(spec.needs_lung_mask or spec.preprocess.uses_lung_mask or takes_lung_mask_argument(spec))


def analysed_plane(volume: "Volume", spec: "ModelSpec", slice_index: int | None = None) -> tuple[np.ndarray, int | None]:
    """The (H, W) image a 2D model reads and, for a slice of a volume, its index."""
    if volume.is_rgb:
        raise ValueError("colour images cannot be fed to the grey-scale models")
    if volume.is_2d:
        return volume.pixels[0], None
    if spec.modality != "CT_SLICE":
        raise ValueError(f"{spec.name} reads one radiograph, got a {volume.shape[0]}-image series")
    index = volume.shape[0] // 2 if slice_index is None else int(slice_index)
    if not 0 <= index < volume.shape[0]:
        raise ValueError(f"slice {index} does not exist ({volume.shape[0]} slices)")
    return volume.pixels[index], index


def compute_lung_mask(segmenter: "nn.Module", volume: "Volume") -> np.ndarray:
    """(H, W) lung probability on the original grid of a radiograph, from the lung U-Net."""
    from covidviewer.models.unet import lung_probability

    return lung_probability(segmenter, volume.pixels[0], volume.default_window)


def prepare_model_input(
    volume: "Volume",
    spec: "ModelSpec",
    lung_mask: np.ndarray | None = None,
    slice_index: int | None = None,
) -> tuple[ModelInput, int | None]:
    """(ModelInput, analysed slice index or None) for ``spec``'s model."""
    pp = spec.preprocess
    if spec.modality == "CT_VOLUME":
        tensor, grid3 = prepare_volume(volume.pixels, pp, volume.default_window)
        return ModelInput(tensor, grid3, pp), None
    plane, index = analysed_plane(volume, spec, slice_index)
    if needs_lung_mask(spec) and lung_mask is None:
        raise ValueError(f"{spec.name} needs a lung mask (lung U-Net)")
    tensor, grid = prepare_image(plane, pp, volume.default_window, lung_mask if pp.uses_lung_mask else None)
    mask_on_model = None if lung_mask is None else lung_mask_on_model_grid(lung_mask, grid)
    kwargs = {"lung_mask": mask_on_model[None, None]} if takes_lung_mask_argument(spec) else {}
    return ModelInput(tensor, grid, pp, kwargs, mask_on_model), index


def lung_mask_on_model_grid(lung_mask: np.ndarray, grid: Grid2D) -> np.ndarray:
    """The original-grid lung mask resized/cropped like the image (linear, as prepare_image does)."""
    on_model = grid.to_model(np.asarray(lung_mask, dtype=np.float32), cv2.INTER_LINEAR)
    return np.clip(on_model, 0.0, 1.0).astype(np.float32)
