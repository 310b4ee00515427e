"""Display windowing: (center, width) -> uint8, fast enough for every slice change.

Uses the same linear mapping as ``preprocess.to_unit`` (low = center - width / 2 maps to 0,
low + width to 255), computed by OpenCV in one saturating pass straight into the output buffer.
"""
from __future__ import annotations

import cv2
import numpy as np

# Standard CT windows in HU (center, width). Radiographs use the window stored in the file
# (Volume.default_window), which is their "default" preset.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
}

_MIN_WIDTH = 1e-6
_CV_DEPTHS = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64)}


def window_to_uint8(
    image: np.ndarray, center: float, width: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Map ``image`` (H, W) or (H, W, 3) through a linear window to uint8, clipped to 0..255.

    out: optional preallocated uint8 array of the same shape, written in place and returned (the
    only allocation otherwise is the returned array).
    """
    width = max(float(width), _MIN_WIDTH)
    scale = 255.0 / width
    offset = -(float(center) - width / 2.0) * scale
    src = image if image.dtype in _CV_DEPTHS else image.astype(np.float32)
    if out is None:
        out = np.empty(src.shape, dtype=np.uint8)
    elif out.shape != src.shape or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 {src.shape}, got {out.dtype} {out.shape}")
    # addWeighted(src, a, src, 0, b) = saturate_cast<uchar>(a * src + b): one pass, no temporaries.
    result = cv2.addWeighted(src, scale, src, 0.0, offset, dst=out, dtype=cv2.CV_8U)
    if result is not out:  # OpenCV reallocates when it cannot write into ``out`` (non-contiguous)
        out[...] = result
    return out


def window_from_range(values: np.ndarray) -> tuple[float, float]:
    """(center, width) spanning the finite data range of ``values``."""
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return 0.5, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low + high) / 2.0, max(high - low, 1.0)
