"""Torch datasets over labelled rows; every item is built by the app's model-input module.

``covidviewer.inference.inputs`` (``prepare_plane_input`` / ``prepare_volume_input``, the functions
the app's Predictor calls) turns each image and its lung mask into the model input with the model's
``Preprocess``; augmentation (trainer.data.augment) happens around that call, never instead of it. The only preprocessing switches a recipe may flip per image are the
paper's ones: CLAHE on a random share of images (``clahe_prob``) and lung-masked copies
(``masked_copies``), both by ``dataclasses.replace`` on the same Preprocess. Chest-erased copies (``erased_copies``)
change the image before that call, as the shortcut check (trainer.lungs_erased) does.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.inference.inputs import ct_body_as_read, prepare_plane_input, prepare_volume_input, reading_window
from covidviewer.models.spec import LungMaskUse
from trainer.data.augment import AugmentParams, augment_2d, augment_volume, in_window_units, item_rng
from trainer.data.chest_erase import erase_lungs
from trainer.data.images import ImageCache, as_label_mask, load_volume
from trainer.data.labels import Row


class _EpochDataset(Dataset):
    """Base: rows + the epoch number that seeds each item's augmentation."""

    def __init__(self, rows: Sequence[Row], pp: Preprocess, augment: AugmentParams | None, seed: int):
        self.rows = list(rows)
        self.pp = pp
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, index: int) -> Row:
        return self.rows[index % len(self.rows)]

    def _rng(self, index: int) -> np.random.Generator | None:
        return item_rng(self.seed, self.epoch, index) if self.augment is not None else None


class ClassificationDataset(_EpochDataset):
    """2D images -> {"image": (C, h, w), "target": class, "index"} (+ "lung_mask" (1, h, w)).

    lung_masks: original-grid [0, 1] lung maps per row path, needed when the spec masks the image
        or takes the mask as an input (``lung_mask_use``, the spec's ``lung_mask``), crops to the
        lungs (``pp.lung_crop``), or for ``masked_copies``.
    masked_copies: the dataset is twice as long; the second half are lung-masked copies (SEME stage 2).
    erased_copies: the dataset is twice as long; the second half are copies with the chest erased, marked ``erased``
        (their loss has no class: trainer.tasks). Default: the augmentation's switch; given, also without augmentation
        (the head re-fit's features of erased films, trainer.head_refit).
    num_classes: when given, items carry "target_set" (K,) 0/1, the classes a (coarse) label allows.
    style_shift: set by the style stress test (trainer.style_stress): (film in [0, 1] window units, row) ->
        the film as another hospital might send it, applied where augmentation applies its style jitter.
    """

    def __init__(
        self,
        rows: Sequence[Row],
        pp: Preprocess,
        cache: ImageCache,
        augment: AugmentParams | None = None,
        seed: int = 0,
        lung_masks: dict[Any, np.ndarray] | None = None,
        lung_mask_use: LungMaskUse = "none",
        num_classes: int = 0,
        erased_copies: bool | None = None,
    ):
        super().__init__(rows, pp, augment, seed)
        self.cache = cache
        self.num_classes = int(num_classes)
        self.lung_masks = lung_masks or {}
        self.lung_mask_use = lung_mask_use
        self.style_shift: Callable[[np.ndarray, Row], np.ndarray] | None = None
        self.masked_copies = bool(augment is not None and augment.masked_copies)
        self.erased_copies = bool(augment is not None and augment.erased_copies) if erased_copies is None else erased_copies
        if self.masked_copies and self.erased_copies:
            raise ValueError("augment.masked_copies and augment.erased_copies each double the data set: choose one")
        needs_masks = pp.lung_crop or lung_mask_use != "none" or self.masked_copies or self.erased_copies
        missing = [r.path for r in self.rows if needs_masks and r.path not in self.lung_masks]
        if missing:
            raise ValueError(f"{len(missing)} images have no lung mask (first: {missing[0]})")

    def __len__(self) -> int:
        return len(self.rows) * (2 if self.masked_copies or self.erased_copies else 1)

    def targets(self) -> list[int]:
        return [self.row(i).target for i in range(len(self))]

    def strata(self) -> list[tuple[str, str]]:
        """(label, source) of every item, for sampling balanced over both."""
        return [(self.row(i).label, self.row(i).source) for i in range(len(self))]

    def target_set(self, row: Row) -> torch.Tensor:
        """(K,) 0/1: the classes the row's label allows (one, or several for a coarse label)."""
        allowed = torch.zeros(self.num_classes, dtype=torch.float32)
        allowed[list(row.targets or (row.target,))] = 1.0
        return allowed

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.row(index)
        pixels, window = self.cache.get(row.path)
        lung = self.lung_masks.get(row.path)
        pp = self.pp
        rng = self._rng(index)
        if rng is not None:
            pixels, (lung,), clahe = augment_2d(pixels, [lung], pp.window or window, self.augment, rng)  # type: ignore[arg-type]
            if clahe is not None:
                pp = replace(pp, clahe=clahe)
        if self.style_shift is not None:
            shift = self.style_shift
            pixels = in_window_units(pixels, pp.window or window, lambda unit: shift(unit, row))
            if lung is not None and lung.shape != pixels.shape:  # a change of detector size: the lungs stay where they were
                lung = cv2.resize(lung.astype(np.float32), (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_LINEAR)
        copy = index >= len(self.rows)
        if copy and self.erased_copies:
            body = ct_body_as_read(pixels, window) if pp.kind == "ct_slice" else None
            pixels = erase_lungs(pixels, lung, body)  # type: ignore[arg-type]
        model_input = prepare_plane_input(pixels, pp, window, lung, self.lung_mask_use, copy and self.masked_copies)
        item: dict[str, Any] = {"image": torch.from_numpy(model_input.tensor), "target": row.target, "index": index}
        if self.erased_copies:
            item["erased"] = copy
        if self.num_classes:
            item["target_set"] = self.target_set(row)
            item["label_name"], item["source"] = row.label, row.source  # the within-label source adversary reads them
        if self.lung_mask_use == "forward_arg":  # (1, h, w): the app's (1, 1, h, w) forward argument less its batch axis
            item["lung_mask"] = torch.from_numpy(model_input.forward_kwargs["lung_mask"][0])
        return item


class SegmentationDataset(_EpochDataset):
    """Image + label mask -> {"image", "target" (1, h, w) 0/1, "valid" (1, h, w) 0/1, "index"}.

    ``ignore_value`` pixels (127 = devices / markup in lung_seg) are left out of the loss and of
    IoU; a 0/1 mask has no ignore label.
    """

    def __init__(
        self,
        rows: Sequence[Row],
        pp: Preprocess,
        cache: ImageCache,
        augment: AugmentParams | None = None,
        seed: int = 0,
        ignore_value: int = 127,
    ):
        super().__init__(rows, pp, augment, seed)
        self.cache = cache
        self.ignore_value = int(ignore_value)

    def label_mask(self, row: Row, shape: tuple[int, int]) -> np.ndarray:
        """The row's uint8 label mask on its image's original grid."""
        return as_label_mask(self.cache.get(row.mask_path)[0], shape)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.row(index)
        pixels, window = self.cache.get(row.path)
        mask = self.label_mask(row, pixels.shape)
        pp = self.pp
        rng = self._rng(index)
        if rng is not None:
            pixels, (mask,), clahe = augment_2d(pixels, [mask], pp.window or window, self.augment, rng)  # type: ignore[arg-type]
            if clahe is not None:
                pp = replace(pp, clahe=clahe)
        model_input = prepare_plane_input(pixels, pp, window)
        on_grid = model_input.grid.to_model(mask, cv2.INTER_NEAREST)  # type: ignore[call-arg]
        target, valid = split_label_mask(on_grid, self.ignore_value)
        return {
            "image": torch.from_numpy(model_input.tensor),
            "target": torch.from_numpy(target[None]),
            "valid": torch.from_numpy(valid[None]),
            "index": index,
        }


def split_label_mask(mask: np.ndarray, ignore_value: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 label mask -> (lung 0/1, valid 0/1) float32; 0/1 masks have no ignore label.

    Pixels outside the image (padding of a "pad" fit) are 0 = background, which is what they are.
    """
    if mask.max() <= 1:
        return (mask > 0).astype(np.float32), np.ones(mask.shape, np.float32)
    valid = mask != ignore_value
    return ((mask > ignore_value) & valid).astype(np.float32), valid.astype(np.float32)


class VolumeDataset(_EpochDataset):
    """3D volumes (NIfTI / MHA / DICOM folders) -> {"image": (C, D, H, W), "target", "index"}.

    Volumes are resampled to the model grid by ``prepare_volume``; online flip / rotation /
    translation / scaling then act on that grid (trainer.data.augment.augment_volume).
    ``cache`` keeps the prepared (un-augmented) arrays in memory.
    """

    def __init__(self, rows: Sequence[Row], pp: Preprocess, augment: AugmentParams | None = None, seed: int = 0, cache: bool = False):
        super().__init__(rows, pp, augment, seed)
        self.cache_enabled = cache
        self._prepared: dict[int, np.ndarray] = {}
        # The value a voxel below the window has after normalisation: what the affine fills with.
        self.fill = float((0.0 - pp.mean[0]) / pp.std[0])

    def targets(self) -> list[int]:
        return [r.target for r in self.rows]

    def prepared(self, index: int) -> np.ndarray:
        array = self._prepared.get(index)
        if array is None:
            volume = load_volume(self.rows[index].path)
            if volume.is_rgb:
                raise ValueError(f"{self.rows[index].path.name}: colour volumes are not CT")
            array = prepare_volume_input(volume.pixels, self.pp, reading_window(volume, ct_reader=True)).tensor
            if self.cache_enabled:
                self._prepared[index] = array
        return array

    def __getitem__(self, index: int) -> dict[str, Any]:
        array = self.prepared(index)
        rng = self._rng(index)
        if rng is not None:
            array = augment_volume(array, self.fill, self.augment, rng)  # type: ignore[arg-type]
        return {"image": torch.from_numpy(np.ascontiguousarray(array)), "target": self.rows[index].target, "index": index}
