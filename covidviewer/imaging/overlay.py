"""Heat-map overlay compositing on a windowed greyscale image."""
from __future__ import annotations

import cv2
import numpy as np


def heat_to_index(heat: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """[0, 1] float map -> uint8 colour-table index 0..255 (values outside are clipped)."""
    src = heat if heat.dtype in (np.float32, np.float64) else heat.astype(np.float32)
    if out is None:
        out = np.empty(src.shape, dtype=np.uint8)
    result = cv2.addWeighted(src, 255.0, src, 0.0, 0.0, dst=out, dtype=cv2.CV_8U)
    if result is not out:
        out[...] = result
    return out


def composite_overlay(
    gray_u8: np.ndarray,
    heat: np.ndarray,
    lut: np.ndarray,
    opacity: float = 0.5,
    threshold: float = 0.0,
    out: np.ndarray | None = None,
    colour: np.ndarray | None = None,
) -> np.ndarray:
    """Blend a coloured heat map over a grey image: (H, W) uint8 + (H, W) [0, 1] -> (H, W, 3) uint8.

    Where ``heat >= threshold`` the pixel is ``(1 - opacity) * grey + opacity * lut[heat]``; below
    the threshold the map is transparent and the grey pixel shows unchanged. ``gray_u8`` may also
    be an (H, W, 3) RGB image. ``colour``: ``heat_colours(heat, lut)`` kept from an earlier call
    (the lookup is most of the cost, and only the window, opacity or threshold changed).
    """
    if heat.shape[:2] != gray_u8.shape[:2]:
        raise ValueError(f"heat map shape {heat.shape} != image shape {gray_u8.shape[:2]}")
    if lut.shape != (256, 3) or lut.dtype != np.uint8:
        raise ValueError(f"lut must be (256, 3) uint8, got {lut.dtype} {lut.shape}")
    opacity = float(np.clip(opacity, 0.0, 1.0))
    h, w = gray_u8.shape[:2]
    if out is None:
        out = np.empty((h, w, 3), dtype=np.uint8)
    base = gray_u8 if gray_u8.ndim == 3 else cv2.cvtColor(np.ascontiguousarray(gray_u8), cv2.COLOR_GRAY2RGB)
    if opacity == 0.0:
        out[...] = base
        return out
    if colour is None:
        colour = heat_colours(heat, lut)
    elif colour.shape != (h, w, 3):
        raise ValueError(f"colour image shape {colour.shape} != {(h, w, 3)}")
    blended = cv2.addWeighted(base, 1.0 - opacity, colour, opacity, 0.0, dst=out)
    if blended is not out:
        out[...] = blended
    if threshold > 0.0:
        below = np.less(heat, threshold).view(np.uint8)
        copied = cv2.copyTo(base, below, out)
        if copied is not out:
            out[...] = copied
    return out


def heat_colours(heat: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(H, W) [0, 1] map -> (H, W, 3) uint8 colours of ``lut`` (the heat map's look, before blending)."""
    index = heat_to_index(np.ascontiguousarray(heat))
    # Three single-channel lookups + merge are ~3x faster than one 3-channel cv2.LUT and ~10x
    # faster than numpy fancy indexing (this runs on every slice change).
    return cv2.merge([cv2.LUT(index, channel) for channel in _lut_channels(lut)])


def _lut_channels(lut: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.ascontiguousarray(lut[:, c]) for c in range(3))  # type: ignore[return-value]
