"""Read images, masks and volumes through covidviewer.io for training, with an optional cache.

Everything is read with ``covidviewer.io.load_path`` (the app's own readers: DICOM VOI/MONOCHROME1,
NIfTI orientation, 8-bit images), so the trainer sees exactly what the viewer shows.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from covidviewer.io.colour import LUMA, grey_of_cast, is_grey_film


def load_volume(path: Path):  # -> covidviewer.io.Volume
    """``covidviewer.io.load_path`` (imported lazily: the io package pulls in pydicom/SimpleITK)."""
    from covidviewer import io

    return io.load_path(path)


def load_error_types() -> tuple[type[BaseException], ...]:
    from covidviewer.io import LoadError

    return (LoadError, ValueError, OSError)


def read_2d(path: Path, ct_reader: bool = False) -> tuple[np.ndarray, tuple[float, float]]:
    """(H, W) float32 pixels and the window the model reads it in (``covidviewer.inference.inputs.reading_window``: for
    a model that reads CT (``ct_reader``, ``reads_ct``) a slice in HU through the lung window, for a radiograph model
    the film's default window, or its auto window where it has more than 256 grey levels); colour images
    become grey (a mild cast as the app's models read it, ``covidviewer.io.colour``).

    Raises ValueError for a multi-slice series (a 2D model cannot use it) and LoadError from io.
    """
    from covidviewer.inference.inputs import reading_window

    volume = load_volume(path)
    pixels = volume.pixels
    if volume.shape[0] != 1:
        raise ValueError(f"{Path(path).name}: expected a single 2D image, got {volume.shape[0]} slices")
    image = pixels[0]
    if volume.is_rgb:  # a grey film with a mild cast as the app's models read it; any other colour image as its luma
        image = grey_of_cast(image) if is_grey_film(image) else image @ LUMA
    return np.ascontiguousarray(image, dtype=np.float32), reading_window(volume, ct_reader)


def as_label_mask(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A label mask image (e.g. 0 / 127 / 255) as uint8 on an image grid of ``shape`` (nearest resize)."""
    mask = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    if mask.shape != shape:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask


def lung_from_label_mask(mask: np.ndarray, ignore_value: int = 127) -> np.ndarray:
    """[0, 1] float lung map from a label mask: 1/255 = lung; ``ignore_value`` (devices) is not lung."""
    if mask.max() <= 1:
        return (mask > 0).astype(np.float32)
    return (mask > ignore_value).astype(np.float32)


#: share of the RAM available when the cache is made that it may hold: a hospital's own films are 2,000-3,000 px DICOMs,
#: 20-35 MB each as float32, and 500 of them would fill this machine; past the budget a film is read again when needed
CACHE_SHARE_OF_RAM = 0.25


class ImageCache:
    """path -> (pixels, window) for 2D images; each image is kept once read when ``enabled``, up to ``max_bytes``.
    ``ct_reader``: the images are read for a model that reads CT (``read_2d``: a slice in HU comes with the lung window).

    The packs here are small (hundreds of 224-256 px images, < 100 MB as float32), and reading each once up front is
    also how unreadable files are found before training starts. A film past the budget is read from its file each
    time it is needed: slower, never different.
    """

    def __init__(self, enabled: bool = True, max_bytes: int | None = None, ct_reader: bool = False):
        from covidviewer.io.memory import available_ram_bytes

        self.enabled = enabled
        self.ct_reader = ct_reader
        self.max_bytes = int(available_ram_bytes() * CACHE_SHARE_OF_RAM) if max_bytes is None else int(max_bytes)
        self.held_bytes = 0
        self._items: dict[Path, tuple[np.ndarray, tuple[float, float]]] = {}

    def get(self, path: Path) -> tuple[np.ndarray, tuple[float, float]]:
        path = Path(path)
        item = self._items.get(path)
        if item is None:
            item = read_2d(path, self.ct_reader)
            if self.enabled and self.held_bytes + item[0].nbytes <= self.max_bytes:
                self._items[path] = item
                self.held_bytes += item[0].nbytes
        return item

    def problem(self, path: Path) -> str | None:
        """None when ``path`` reads as a 2D image, else the reason (for the bad-rows report)."""
        try:
            self.get(path)
        except load_error_types() as err:
            return str(err)
        return None


def volume_problem(path: Path) -> str | None:
    """None when ``path`` loads as a 3D volume, else the reason."""
    try:
        volume = load_volume(path)
    except load_error_types() as err:
        return str(err)
    if volume.is_rgb or volume.shape[0] < 2:
        return f"{Path(path).name}: not a 3D grey-level volume (shape {volume.pixels.shape})"
    return None
