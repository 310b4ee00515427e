"""The one model-input module: from an image to what a registered model is fed, for the app's
Predictor, ``predict``, batch prediction, the trainer's datasets and its attention check.

Everything below goes through imaging.preprocess (``prepare_image`` / ``prepare_volume``), so the
trainer cannot train on an input the app never builds (tests/trainer/test_model_input_parity.py).

* CXR: the radiograph with the Volume's default window (VOI; MONOCHROME1 already inverted by io), or its auto window
  where it has more than 256 grey levels (``reading_window``) -> [0, 1], CLAHE / lung masking / fit as the spec says.
* CT slice: one axial slice (the middle one unless the caller picks), windowed per spec; an image in Hounsfield units
  through the lung window, whatever window its file displays it in (``reading_window``).
* CT volume: ``prepare_volume`` to the spec's (D, H, W), mapped back through ``Grid3D``; HU as for a slice.
* A CT slice's lungs, where a map is weighed by them, are the dark regions its body encloses (``ct_lungs_as_read``).
* Lung masks come from the lung U-Net on the ORIGINAL grid as 0/1 masks (``models.unet.lung_mask``,
  the function the trainer's mask collection calls too) and go into the image (``spec.lung_mask ==
  "image"``) or to ``forward(..., lung_mask=...)`` (``"forward_arg"``), resized onto the model grid
  the same way, and choose the analysed lung box (``preprocess.lung_crop``);
  ``spec.needs_lung_mask`` says whether a model needs one at all.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from covidviewer.explain.base import ModelInput
from covidviewer.imaging.body_region import largest_bright_region
from covidviewer.imaging.ct_lungs import ct_body_and_lungs, ct_lung_region
from covidviewer.imaging.detail import finest_detail
from covidviewer.imaging.preprocess import Preprocess, lung_mask_on_model_grid, model_view, prepare_image, prepare_volume
from covidviewer.imaging.window_presets import film_reading_window, uses_hu
from covidviewer.imaging.windowing import WINDOW_PRESETS, window_to_uint8

#: the window a CT model reads an image in Hounsfield units in: the standard lung window (the viewer's key 2), in which
#: the training slices were published. A file's own window is a display choice: a series whose default is a soft-tissue
#: window (L 40 / W 400) turned DResUNet's every slice of the built-in lung series to COVID-19 (0.92 mean, against 0.65)
HU_READING_WINDOW = WINDOW_PRESETS["lung"]

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import LungMaskUse, ModelSpec


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


def ct_lungs_as_read(plane: np.ndarray, window: tuple[float, float]) -> np.ndarray | None:
    """The lungs (``imaging.ct_lungs``) of one CT slice seen through ``window``, the window a CT model reads it in
    (``reading_window``): the app's attention figures (``analysis.map_lungs``) and the trainer's attention check weigh a
    CT map by them."""
    return ct_lung_region(window_to_uint8(plane, *window))


def ct_lung_mask(plane: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """(H, W) float32 0/1 lung mask of one CT slice for a CT-slice model that crops to the lungs: ``ct_lungs_as_read``,
    all zero where no lungs were found (the model then reads the whole slice, ``imaging.lung_box``). The app and the
    trainer's mask collection both call this."""
    lungs = ct_lungs_as_read(plane, window)
    return np.zeros(np.shape(plane), np.float32) if lungs is None else lungs.astype(np.float32)


def ct_body_as_read(plane: np.ndarray, window: tuple[float, float]) -> np.ndarray | None:
    """The body (``imaging.body_region``, holes filled) of one CT slice seen through ``window``: what lies outside it is
    air, the table and whatever a figure's maker put beside the patient (labels, arrows, the frame)."""
    return largest_bright_region(window_to_uint8(plane, *window))


def ct_body_and_lungs_as_read(plane: np.ndarray, window: tuple[float, float]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(``ct_body_as_read``, ``ct_lungs_as_read``) of one CT slice, the body found once."""
    return ct_body_and_lungs(window_to_uint8(plane, *window))


def compute_lung_mask(segmenter: "nn.Module", volume: "Volume") -> np.ndarray:
    """(H, W) 0/1 lung mask on the original grid of a radiograph, from the lung U-Net."""
    from covidviewer.models.unet import lung_mask

    return lung_mask(segmenter, volume.pixels[0], volume.default_window)


def prepare_model_input(
    volume: "Volume",
    spec: "ModelSpec",
    lung_mask: np.ndarray | None = None,
    slice_index: int | None = None,
) -> tuple[ModelInput, int | None]:
    """(ModelInput, analysed slice index or None) for ``spec``'s model."""
    window = reading_window(volume, reads_ct(spec))
    if spec.modality == "CT_VOLUME":
        return prepare_volume_input(volume.pixels, spec.preprocess, window), None
    plane, index = analysed_plane(volume, spec, slice_index)
    if spec.needs_lung_mask and lung_mask is None and spec.modality == "CT_SLICE":
        lung_mask = ct_lung_mask(plane, window)  # found on the slice: no lung U-Net for CT
    if spec.needs_lung_mask and lung_mask is None:
        raise ValueError(f"{spec.name} needs a lung mask (lung U-Net)")
    model_input = prepare_plane_input(plane, spec.preprocess, window, lung_mask, spec.lung_mask)
    return model_input, index


def reads_ct(spec: "ModelSpec") -> bool:
    """Does ``spec``'s model read CT images: a CT model, or the gate's image-kind model, which judges a CT slice as the CT
    models see it (it learnt CT slices from lung-window images)."""
    return spec.modality.startswith("CT") or spec.modality == "ANY_2D"


def reading_window(volume: "Volume", ct_reader: bool) -> tuple[float, float]:
    """The window a model reads ``volume`` in before its own preprocessing: an image in Hounsfield units through
    ``HU_READING_WINDOW`` for a model that reads CT (``reads_ct``: the CT models and the gate's image-kind model), a
    single grey image through ``film_reading_window`` (its file's default window, or its auto window where it has
    more than 256 grey levels, as the lung U-Net reads it), anything else through its file's default window. The
    trainer reads its images through this too."""
    window = (float(volume.default_window[0]), float(volume.default_window[1]))
    if uses_hu(volume):
        return HU_READING_WINDOW if ct_reader else window  # no radiograph model reads a CT image: the gate refuses it
    if not volume.is_2d or volume.is_rgb:
        return window
    return film_reading_window(volume.pixels[0], window)


def prepare_plane_input(
    plane: np.ndarray,
    pp: Preprocess,
    default_window: tuple[float, float],
    lung_mask: np.ndarray | None = None,
    lung_mask_use: "LungMaskUse" = "none",
    masked_copy: bool = False,
) -> ModelInput:
    """One (H, W) image -> the ModelInput of a 2D model with preprocessing ``pp``.

    ``lung_mask``: [0, 1] on the original grid; multiplies the image when ``lung_mask_use`` is
    "image" (or for the trainer's lung-masked copies, ``masked_copy``), chooses the lung box when
    ``pp.lung_crop``, is passed as ``forward(..., lung_mask=(1, 1, h, w))`` when ``lung_mask_use``
    is "forward_arg", and is kept on the model grid (``ModelInput.lung_mask``) whenever given. The
    trainer calls this with its per-item ``pp`` (CLAHE drawn per image) on the augmented image.
    """
    mask_image = lung_mask_use == "image" or masked_copy
    mask_argument = lung_mask_use == "forward_arg"
    if (pp.lung_crop or mask_image or mask_argument) and lung_mask is None:
        raise ValueError("this model needs a lung mask (run the lung U-Net first)")
    tensor, grid = prepare_image(plane, pp, default_window, lung_mask if pp.lung_crop or mask_image else None, mask_image)
    mask_on_model = None if lung_mask is None else lung_mask_on_model_grid(lung_mask, grid)
    kwargs = {"lung_mask": mask_on_model[None, None]} if mask_argument else {}  # type: ignore[index]
    return ModelInput(tensor, grid, pp, kwargs, mask_on_model)


def plane_detail(plane: np.ndarray, pp: Preprocess, default_window: tuple[float, float], lung_mask: np.ndarray | None = None) -> float:
    """How strong the finest detail of one (H, W) image is on ``pp``'s view of it (imaging.detail.finest_detail), before
    any detail standardisation: what the trainer records for the training films and the app measures on a film."""
    view, _ = model_view(plane, pp, default_window, lung_mask)
    return finest_detail(view)


def prepare_volume_input(pixels: np.ndarray, pp: Preprocess, default_window: tuple[float, float]) -> ModelInput:
    """A (z, y, x) volume -> the ModelInput of a 3D model with preprocessing ``pp``."""
    tensor, grid = prepare_volume(pixels, pp, default_window)
    return ModelInput(tensor, grid, pp)
