"""The opening of a radiograph's display shutter as a mask on its pixel grid (``covidviewer.io.shutter_tags``).

Several shapes together leave open only what lies inside all of them (PS3.3 C.7.6.11.1). Rows and columns in the
file count from 1; a pixel is open when its centre lies inside. Numpy and OpenCV only.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def shutter_opening(shutter: dict[str, Any] | None, shape: tuple[int, int]) -> np.ndarray | None:
    """(rows, columns) bool, True where the film is shown; None without a shutter, or when the shutter would leave
    nothing open (a file's mistake: the film is shown whole rather than hidden)."""
    if not shutter:
        return None
    rows, cols = shape
    r = np.arange(1, rows + 1, dtype=np.float64)[:, None]  # the file's 1-based row and column of each pixel
    c = np.arange(1, cols + 1, dtype=np.float64)[None, :]
    opening = np.ones(shape, dtype=bool)
    if "rectangle" in shutter:
        left, right, upper, lower = shutter["rectangle"]
        opening &= (c >= left) & (c <= right) & (r >= upper) & (r <= lower)
    if "circle" in shutter:
        centre_row, centre_col, radius = shutter["circle"]
        opening &= (r - centre_row) ** 2 + (c - centre_col) ** 2 <= radius**2
    if "polygon" in shutter:
        inside = np.zeros(shape, dtype=np.uint8)
        points = np.array([[col - 1, row - 1] for row, col in shutter["polygon"]], dtype=np.float64)
        cv2.fillPoly(inside, [np.round(points * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        opening &= inside.astype(bool)
    return opening if opening.any() else None
