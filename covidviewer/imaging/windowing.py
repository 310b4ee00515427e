"""Display windowing: (center, width) -> uint8, fast enough for every slice change.

Uses the same linear mapping as ``preprocess.to_unit`` (low = center - width / 2 maps to 0,
low + width to 255), computed by OpenCV in one saturating pass straight into the output buffer.
A file whose VOI LUT Function is SIGMOID (PS3.3 C.11.2.1.3.1) is shown through the standard's sigmoid
of the same centre and width instead, as its vendor meant it to be seen.
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


#: VOI LUT Function values (0028,1056); LINEAR_EXACT differs from LINEAR by half a grey level and is drawn as it
LINEAR, SIGMOID = "LINEAR", "SIGMOID"


def window_to_uint8(
    image: np.ndarray, center: float, width: float, out: np.ndarray | None = None, function: str = LINEAR
) -> np.ndarray:
    """Map ``image`` (H, W) or (H, W, 3) through a linear (or ``SIGMOID``) window to uint8, clipped to 0..255.

    out: optional preallocated uint8 array of the same shape, written in place and returned (the
    only allocation otherwise is the returned array).
    """
    if function == SIGMOID:
        return _sigmoid_to_uint8(image, center, width, out)
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


def _sigmoid_to_uint8(image: np.ndarray, center: float, width: float, out: np.ndarray | None) -> np.ndarray:
    """255 / (1 + exp(-4 (x - center) / width)), the standard's sigmoid VOI function."""
    width = max(float(width), _MIN_WIDTH)
    values = np.asarray(image, dtype=np.float32)
    exponent = np.clip((values - np.float32(center)) * np.float32(-4.0 / width), -80.0, 80.0)  # no overflow to inf
    result = np.rint(np.float32(255.0) / (np.float32(1.0) + cv2.exp(exponent)))
    if out is None:
        return result.astype(np.uint8)
    if out.shape != values.shape or out.dtype != np.uint8:
        raise ValueError(f"out must be uint8 {values.shape}, got {out.dtype} {out.shape}")
    out[...] = result
    return out


def window_from_range(values: np.ndarray) -> tuple[float, float]:
    """(center, width) spanning the finite data range of ``values``."""
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return 0.5, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low + high) / 2.0, max(high - low, 1.0)
