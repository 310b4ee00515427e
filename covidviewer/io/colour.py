"""Colour files that hold a grey image, read as grey.

A film saved in colour with three equal channels is grey. So, for a reader, is a film with a mild colour cast: a
sepia-toned export, a film scanned on a colour scanner, a JPEG whose colour balance drifted. Its pixels lie near
one line through black in colour space, a pale tint times a grey level. The models read grey films, and refused
such a file as "colour" until now. A photograph, a histology slide or a film with coloured marks drawn over it has
pixels far off any one line, or a tint far from grey, and stays in colour (shown, not analysed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ITU-R BT.601 luma, as JPEG's own Y channel: equal channels give their own value back
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: share of the pixels that must lie near the tint's line: the rest is JPEG's colour bleeding at sharp edges
ONE_HUE_SHARE = 0.995
#: how near, as a share of the file's full scale. Measured on 50 films of ../shared/data/cxr saved as JPEG
#: (quality 85) in sepia and in a cold cast: at most 15.5 and 9.8 levels of 255; skimage's colour photographs
#: (astronaut, chelsea, coffee, rocket, hubble, immunohistochemistry, retina) 53 or more
TINT_TOLERANCE = 24.0 / 255.0
#: the tint's weakest channel over its strongest: sepia 0.75, a cold cast 0.85, pure red 0
MILD_TINT = 0.6
#: pixels looked at (a regular subsample of larger images): the share above needs no more
_SAMPLE = 500_000

CAST_NOTE = "a grey image with a colour cast (a film tinted, or scanned in colour): read as grey, its luma"


@dataclass(frozen=True)
class GreyReading:
    pixels: np.ndarray  #: the image without its channel axis
    note: str | None  #: what the reader should know; None when the three channels were equal


def full_scale(stored: np.ndarray) -> float:
    """The largest value ``stored``'s type can hold; for floating-point pixels, the largest present (at least 1)."""
    if stored.dtype.kind in "ui":
        return float(np.iinfo(stored.dtype).max)
    return max(float(np.max(stored)) if stored.size else 1.0, 1.0)


def as_grey(rgb: np.ndarray, full_scale: float) -> GreyReading | None:
    """The grey image an (..., 3) RGB array holds, or None for a genuinely colour image.

    ``full_scale`` is the file's largest possible value (255 for 8 bits): the tolerance is a share of it.
    """
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(red, green) and np.array_equal(green, blue):
        return GreyReading(np.ascontiguousarray(red), None)
    colours = rgb.reshape(-1, 3)
    colours = colours[:: max(1, len(colours) // _SAMPLE)].astype(np.float64)
    tint = colours.sum(axis=0)
    if tint.min() <= 0 or tint.min() / tint.max() < MILD_TINT:
        return None
    tint /= np.linalg.norm(tint)
    off_line = np.linalg.norm(colours - np.outer(colours @ tint, tint), axis=1)
    if float(np.quantile(off_line, ONE_HUE_SHARE)) > TINT_TOLERANCE * full_scale:
        return None
    return GreyReading(np.ascontiguousarray(rgb.astype(np.float32, copy=False) @ LUMA), CAST_NOTE)
