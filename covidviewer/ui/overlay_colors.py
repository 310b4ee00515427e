"""RGBA lookup tables for the overlay image item, built on ``covidviewer.imaging``'s colormaps.

The overlay is drawn as uint8 indices through a 256-entry RGBA table: the colormap gives RGB, the
threshold gives alpha (indices below it are fully transparent), and the item's opacity blends it
over the windowed image. Qt does the blending while painting, so a window/level change never
recomputes the overlay, and the result equals ``imaging.composite_overlay`` used by exports.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from covidviewer.imaging import colormap_lut, heat_to_index


@lru_cache(maxsize=64)
def overlay_lut(colormap: str, threshold: float) -> np.ndarray:
    """(256, 4) uint8 RGBA table; entries for map values below ``threshold`` have alpha 0."""
    lut = np.empty((256, 4), dtype=np.uint8)
    lut[:, :3] = colormap_lut(colormap)
    values = np.arange(256) / 255.0
    lut[:, 3] = np.where(values >= threshold - 1e-9, 255, 0)
    lut.setflags(write=False)
    return lut


def quantize_map(volume_map: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 indices 0..255 (clipped), contiguous for the image item."""
    return heat_to_index(np.ascontiguousarray(volume_map, dtype=np.float32))
