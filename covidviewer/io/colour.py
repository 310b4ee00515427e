"""Colour files that hold a grey image.

A film saved in colour with three equal channels is grey: every reader makes it so (``equal_channels``). So, for a
reader, is a film with a mild colour cast: a sepia-toned export, a film scanned on a colour scanner, a JPEG whose
colour balance drifted. Its pixels lie near one line through black in colour space, a pale tint times a grey level
(``has_mild_cast``). The viewer shows it in its colours; the models read its luma (``Hanging.grey``,
``covidviewer.inference.film_hanging``), where until session 38 they refused it as "colour". A photograph, a
histology slide or a film with coloured marks drawn over it has pixels far off any one line, or a tint far from
grey, and stays colour for the models too (refused).
"""
from __future__ import annotations

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


def equal_channels(rgb: np.ndarray) -> np.ndarray | None:
    """The one channel of an (..., 3) array whose three channels are equal (a grey image saved in colour), else
    None. Every reader makes such a file grey: nothing is lost."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(red, green) and np.array_equal(green, blue):
        return np.ascontiguousarray(red)
    return None


def full_scale(stored: np.ndarray) -> float:
    """The largest value ``stored``'s type can hold; for floating-point pixels, 255 for 8-bit levels held as floats,
    else the largest present."""
    if stored.dtype.kind in "ui":
        return float(np.iinfo(stored.dtype).max)
    top = float(np.max(stored)) if stored.size else 0.0
    return 255.0 if top <= 255.0 else top


def _sampled(rgb: np.ndarray) -> np.ndarray:
    colours = rgb.reshape(-1, 3)
    return colours[:: max(1, len(colours) // _SAMPLE)].astype(np.float64)


def _tint(colours: np.ndarray) -> np.ndarray:
    """The mean colour's direction, its strongest channel 1 (white in the cast)."""
    tint = colours.sum(axis=0)
    return tint / tint.max() if tint.max() > 0 else np.ones(3)


def has_mild_cast(rgb: np.ndarray, scale: float) -> bool:
    """Is an (..., 3) colour image a grey one with a mild colour cast (its pixels near one line through black, of a
    tint near grey)? ``scale`` is the file's full scale (``full_scale``): the tolerance is a share of it."""
    colours = _sampled(rgb)
    tint = _tint(colours)
    if tint.min() < MILD_TINT:
        return False
    unit = tint / np.linalg.norm(tint)
    off_line = np.linalg.norm(colours - np.outer(colours @ unit, unit), axis=1)
    return float(np.quantile(off_line, ONE_HUE_SHARE)) <= TINT_TOLERANCE * scale


def is_grey_film(rgb: np.ndarray) -> bool:
    """``has_mild_cast`` at the array's own full scale: what the app's models and the trainer read as grey."""
    return has_mild_cast(rgb, full_scale(rgb))


def grey_of_cast(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) -> (...) float32: the luma of a grey image with a colour cast, rescaled so that the cast's white is
    white (sepia's white, (1, 0.9, 0.75) of full scale, has a luma of 0.91): the grey levels the film had, which the
    models' answers depend on (the built-in film's p(COVID-19) moved by 0.03 at 0.87 of its levels)."""
    white = float(_tint(_sampled(rgb)) @ LUMA)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.float32) @ (LUMA / np.float32(white)))
