"""Colour lookup tables (256 x 3 uint8) for attention-map overlays, built once per name."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

COLORMAPS = ("jet", "inferno", "viridis", "hot", "magma", "plasma", "turbo", "gray")


@lru_cache(maxsize=None)
def _lut(name: str) -> np.ndarray:
    import matplotlib  # imported on first use only: it is slow to import

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError as e:
        raise ValueError(f"unknown colormap {name!r}; available: {', '.join(COLORMAPS)}") from e
    rgba = cmap(np.linspace(0.0, 1.0, 256))
    lut = np.round(rgba[:, :3] * 255.0).astype(np.uint8)
    lut.setflags(write=False)  # shared between callers through the cache
    return lut


def colormap_lut(name: str) -> np.ndarray:
    """Read-only (256, 3) uint8 RGB table of a matplotlib colormap (jet, inferno, viridis, hot, ...)."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; available: {', '.join(COLORMAPS)}")
    return _lut(name)
