"""Geometry and statistics of measurements on a slice, in true millimetres: numpy only.

Points are (z, y, x) voxel indices with pixel centres at integers; ``spacing`` is the (z, y, x)
voxel size. ROI corners are (row, col) of one slice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ROI_SHAPES = ("ellipse", "rectangle")


def length_mm(p0: Sequence[float], p1: Sequence[float], spacing: Sequence[float]) -> float:
    """Distance between voxel points ``p0`` and ``p1`` ((z, y, x)) with voxel size ``spacing``."""
    delta = (np.asarray(p1, float) - np.asarray(p0, float)) * np.asarray(spacing, float)
    return float(np.sqrt(np.sum(delta**2)))


def angle_deg(points: Sequence[Sequence[float]], spacing: Sequence[float]) -> float:
    """Angle in degrees, in true millimetres (anisotropic pixels do not skew it).

    Three points: the angle at the middle one (0-180). Four points: the angle between the lines
    p0-p1 and p2-p3 (0-90, as a Cobb angle is read, whichever way each line was drawn).
    """
    scaled = [np.asarray(p, float) * np.asarray(spacing, float) for p in points]
    if len(scaled) == 3:
        u, v = scaled[0] - scaled[1], scaled[2] - scaled[1]
    elif len(scaled) == 4:
        u, v = scaled[1] - scaled[0], scaled[3] - scaled[2]
    else:
        raise ValueError(f"an angle needs 3 or 4 points, got {len(scaled)}")
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        return 0.0
    degrees = math.degrees(math.acos(float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))))
    return min(degrees, 180.0 - degrees) if len(scaled) == 4 else degrees


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels whose centres lie inside a region (SD with n - 1)."""

    mean: float
    sd: float
    minimum: float
    maximum: float
    n_pixels: int
    area: float  # of the drawn shape, in the calibration's square unit


def roi_mask(image_shape: tuple[int, int], corner0: Sequence[float], corner1: Sequence[float], shape: str) -> np.ndarray:
    """Boolean mask of the pixels of a (rows, cols) image whose centres lie inside the shape.

    corner0/corner1: (row, col) of opposite corners of the bounding box, continuous, pixel centres
    at integers. A shape too small to hold any centre takes the pixel nearest its middle.
    """
    mask = np.zeros(image_shape, dtype=bool)
    window, inside = _box_mask(image_shape, corner0, corner1, shape)
    mask[window] = inside
    return mask


def _box_mask(image_shape: tuple[int, int], corner0: Sequence[float], corner1: Sequence[float],
              shape: str) -> tuple[tuple[slice, slice], np.ndarray]:
    """(window of the image around the shape, mask within that window): an ROI on a 3000-pixel film
    costs its own size, not the film's, while it follows the pointer."""
    if shape not in ROI_SHAPES:
        raise ValueError(f"ROI shape must be one of {ROI_SHAPES}, got {shape!r}")
    (r0, c0), (r1, c1) = corner0, corner1
    r_lo, r_hi, c_lo, c_hi = min(r0, r1), max(r0, r1), min(c0, c1), max(c0, c1)
    n_rows, n_cols = image_shape
    top, bottom = max(math.ceil(r_lo), 0), min(math.floor(r_hi), n_rows - 1)
    left, right = max(math.ceil(c_lo), 0), min(math.floor(c_hi), n_cols - 1)
    if top <= bottom and left <= right:
        rows = np.arange(top, bottom + 1, dtype=float)[:, None]
        cols = np.arange(left, right + 1, dtype=float)[None, :]
        if shape == "rectangle":
            inside = np.ones((rows.size, cols.size), dtype=bool)
        else:
            half_r, half_c = (r_hi - r_lo) / 2, (c_hi - c_lo) / 2
            centre_r, centre_c = (r_lo + r_hi) / 2, (c_lo + c_hi) / 2
            if half_r > 0 and half_c > 0:
                inside = ((rows - centre_r) / half_r) ** 2 + ((cols - centre_c) / half_c) ** 2 <= 1.0
            else:
                inside = np.zeros((rows.size, cols.size), dtype=bool)
        if inside.any():
            return (slice(top, bottom + 1), slice(left, right + 1)), inside
    row = int(min(max(round((r_lo + r_hi) / 2), 0), n_rows - 1))
    col = int(min(max(round((c_lo + c_hi) / 2), 0), n_cols - 1))
    return (slice(row, row + 1), slice(col, col + 1)), np.ones((1, 1), dtype=bool)


def roi_stats(image: np.ndarray, corner0: Sequence[float], corner1: Sequence[float], shape: str,
              pixel_size: Sequence[float] = (1.0, 1.0)) -> RoiStats:
    """Mean, SD, min, max, pixel count and area of ``image`` ((rows, cols), or (rows, cols, 3):
    the channels' mean) inside the ellipse or rectangle spanned by ``corner0`` and ``corner1``.

    pixel_size: (row, col) size of a pixel; the area is the drawn shape's (pi/4 of the box for an
    ellipse), not the pixel count's, so it does not jump as the outline crosses pixel centres.
    """
    window, inside_mask = _box_mask(tuple(image.shape[:2]), corner0, corner1, shape)  # type: ignore[arg-type]
    values = np.asarray(image[window], dtype=np.float64)
    if values.ndim == 3:
        values = values.mean(axis=2)
    inside = values[inside_mask]
    box = abs(corner1[0] - corner0[0]) * pixel_size[0] * abs(corner1[1] - corner0[1]) * pixel_size[1]
    area = box * math.pi / 4 if shape == "ellipse" else box
    sd = float(inside.std(ddof=1)) if inside.size > 1 else 0.0
    return RoiStats(float(inside.mean()), sd, float(inside.min()), float(inside.max()), int(inside.size), float(area))


def in_plane(point: Sequence[float], slice_axis: int) -> tuple[float, float]:
    """The two in-plane coordinates of a (z, y, x) point, in index order (the slice axis dropped)."""
    return tuple(float(point[a]) for a in (0, 1, 2) if a != slice_axis)  # type: ignore[return-value]


def slice_pixels(pixels: np.ndarray, slice_axis: int, index: int) -> np.ndarray:
    """The slice ``index`` along ``slice_axis`` of (z, y, x[, c]) ``pixels``, other axes in index order.

    A view, not a copy (np.take would copy a whole film on every pointer move of an ROI preview).
    """
    return pixels[(slice(None),) * int(slice_axis) + (int(index),)]
