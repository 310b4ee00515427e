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


#: a film whose grey values span more than this has no one display window (a DICOM of 10-16 bits, a 16-bit PNG)
EIGHT_BIT_SPAN = 255.0
#: the share of such a film's pixels left below and above the window the models read it through
OWN_RANGE_PERCENTILES = (0.5, 99.5)


def film_reading_window(pixels: np.ndarray, default_window: tuple[float, float]) -> tuple[float, float]:
    """The window the radiograph models and the lung U-Net read a film through before their own preprocessing.

    A film of at most 256 grey levels (every film they learnt from) is read through its default window, as before. A
    film of more is read through its own 0.5-99.5% pixel range, whatever VOI window its file carries: the window is a
    display choice with no one right value, and it reached the models through the lung mask and the 8-bit rounding.
    On the built-in 15-bit film, over its own and three other windows, the cascade's p(COVID-19) ran 0.32-0.90 (its
    masks' IoU with its own window's 0.94-0.99) and DPN-SENet's 0.49-0.74 (session 42)."""
    values = np.asarray(pixels, dtype=np.float32)
    if values.size == 0 or float(np.ptp(values)) <= EIGHT_BIT_SPAN:
        return (float(default_window[0]), float(default_window[1]))
    sample = values[..., ::4, ::4] if values.ndim >= 2 else values  # every 4th row and column: a window needs no more
    low, high = (float(v) for v in np.percentile(sample, OWN_RANGE_PERCENTILES))
    width = max(high - low, 1.0)
    return low + width / 2.0, width
