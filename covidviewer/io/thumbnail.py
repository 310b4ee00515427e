"""Small square previews for the study browser (computed lazily, in a worker)."""
from __future__ import annotations

import cv2
import numpy as np

from covidviewer.io.colour import LUMA
from covidviewer.io.errors import reading
from covidviewer.io.study import KIND_DICOM, SeriesInfo
from covidviewer.io.volume import Volume


def _middle_file_series(series: SeriesInfo) -> SeriesInfo:
    """A one-file copy of a DICOM series: the file in the middle along the slice normal."""
    files = series.files
    if series.positions_along_normal is not None and len(series.positions_along_normal) == len(files):
        order = np.argsort(series.positions_along_normal)
        middle = files[int(order[len(order) // 2])]
    else:
        middle = files[len(files) // 2]
    return SeriesInfo(
        uid=series.uid, kind=series.kind, files=[middle], modality=series.modality,
        rows=series.rows, columns=series.columns, samples_per_pixel=series.samples_per_pixel,
        num_images=max(1, series.num_images // max(1, len(files))),
    )


def thumbnail(source: SeriesInfo | Volume, size: int = 96) -> np.ndarray:
    """(size, size) uint8 preview of the middle slice in its default window, letterboxed.

    Colour images are converted to grey. Reads only one file of a DICOM series. Raises
    LoadError when the series cannot be read.
    """
    if isinstance(source, SeriesInfo):
        from covidviewer.io.load import load_series

        one = _middle_file_series(source) if source.kind == KIND_DICOM and len(source.files) > 1 else source
        source = load_series(one)
    with reading(source.sources[0] if source.sources else None, "cannot draw a preview"):
        return _preview(source, size)


def _preview(volume: Volume, size: int) -> np.ndarray:
    image = np.asarray(volume.pixels[volume.shape[0] // 2], dtype=np.float32)
    if volume.is_rgb:
        image = image @ LUMA
    center, width = volume.default_window
    low = center - width / 2.0
    grey = np.clip((image - low) * (255.0 / max(width, 1e-6)), 0, 255).astype(np.uint8)
    # Physical aspect: a pixel is spacing[1] tall and spacing[2] wide.
    height_mm = grey.shape[0] * volume.spacing[1]
    width_mm = grey.shape[1] * volume.spacing[2]
    scale = size / max(height_mm, width_mm)
    out_h = max(1, min(size, round(height_mm * scale)))
    out_w = max(1, min(size, round(width_mm * scale)))
    small = cv2.resize(grey, (out_w, out_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - out_h) // 2, (size - out_w) // 2
    canvas[top : top + out_h, left : left + out_w] = small
    return canvas
