"""Slice geometry: order slices along their normal, derive spacing, and flag irregular stacks.

Slices are ordered by ImagePositionPatient projected on the slice normal (row x column
direction cosines), never by file name or InstanceNumber.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A gap larger than this multiple of the median spacing means slices are missing.
MISSING_GAP_FACTOR = 1.5
# Spacing that varies by more than this fraction of the median (without a gap) is irregular.
IRREGULAR_TOLERANCE = 0.05
# Positions closer than this along the normal (mm) are duplicates.
DUPLICATE_MM = 1e-3


def slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    """Unit normal of a slice: cross product of its row and column direction cosines."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, col)
    return normal / np.linalg.norm(normal)


def direction_matrix(orientation: tuple[float, ...]) -> np.ndarray:
    """3x3 matrix whose columns are the x (row), y (column) and z (normal) unit vectors."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    row = row / np.linalg.norm(row)
    col = col / np.linalg.norm(col)
    return np.stack([row, col, slice_normal(orientation)], axis=1)


@dataclass
class StackGeometry:
    """Result of ordering a stack: the permutation, spacing along z, origin and warnings."""

    order: list[int]
    z_spacing: float
    origin: tuple[float, float, float]
    first_position: tuple[float, float, float] | None
    last_position: tuple[float, float, float] | None
    warnings: list[str] = field(default_factory=list)


def order_stack(
    positions: list[tuple[float, ...] | None],
    orientation: tuple[float, ...] | None,
    fallback_spacing: float | None = None,
    tie_break: list[int | None] | None = None,
    file_order: bool = False,
) -> StackGeometry:
    """Order slices by their position along the normal and measure the spacing between them.

    positions: ImagePositionPatient of each slice (None when absent).
    orientation: the stack's ImageOrientationPatient (None when absent).
    fallback_spacing: SpacingBetweenSlices / SliceThickness used when positions cannot give one.
    tie_break: InstanceNumbers used only to order slices without usable positions or duplicates.
    file_order: the slices are frames of one file, whose order is meaningful without positions.
    """
    n = len(positions)
    ties = [(t if t is not None else 0) for t in (tie_break or [None] * n)]
    usable = orientation is not None and n > 0 and all(p is not None for p in positions)
    warnings: list[str] = []
    if not usable:
        order = sorted(range(n), key=lambda i: (ties[i], i))
        if n > 1 and not file_order:
            warnings.append(
                "slices have no ImagePositionPatient/ImageOrientationPatient; ordered by "
                "InstanceNumber, so the order and spacing are not verified"
            )
        first = positions[order[0]] if n and positions[order[0]] is not None else None
        origin = tuple(first) if first is not None else (0.0, 0.0, 0.0)
        spacing = fallback_spacing if fallback_spacing and fallback_spacing > 0 else 1.0
        last = positions[order[-1]] if n and positions[order[-1]] is not None else None
        return StackGeometry(order, float(spacing), origin, first, last, warnings)  # type: ignore[arg-type]

    normal = slice_normal(orientation)  # type: ignore[arg-type]
    pos = np.asarray(positions, dtype=float)
    dist = pos @ normal
    order = sorted(range(n), key=lambda i: (dist[i], ties[i], i))
    sorted_dist = dist[order]
    spacing = _spacing_and_warnings(sorted_dist, fallback_spacing, warnings)
    _check_in_plane_drift(pos[order], normal, warnings)
    first = tuple(float(v) for v in pos[order[0]])
    last = tuple(float(v) for v in pos[order[-1]])
    return StackGeometry(order, spacing, first, first, last, warnings)  # type: ignore[arg-type]


def _spacing_and_warnings(sorted_dist: np.ndarray, fallback: float | None, warnings: list[str]) -> float:
    if len(sorted_dist) < 2:
        return float(fallback) if fallback and fallback > 0 else 1.0
    gaps = np.diff(sorted_dist)
    duplicates = int(np.sum(gaps < DUPLICATE_MM))
    if duplicates:
        warnings.append(
            f"{duplicates} slice(s) share a position with another slice (duplicate positions: "
            "repeated acquisitions or echoes mixed in one series)"
        )
    real = gaps[gaps >= DUPLICATE_MM]
    if real.size == 0:
        return float(fallback) if fallback and fallback > 0 else 1.0
    median = float(np.median(real))
    missing = real > MISSING_GAP_FACTOR * median
    if missing.any():
        # Number of slices that would fit in the gaps at the median spacing.
        lost = int(np.sum(np.round(real[missing] / median) - 1))
        where = ", ".join(f"{g:.2f} mm" for g in real[missing][:5])
        warnings.append(
            f"missing slices: {int(missing.sum())} gap(s) larger than {MISSING_GAP_FACTOR}x the "
            f"median spacing {median:.2f} mm (gaps {where}; about {max(lost, 1)} slice(s) missing)"
        )
    regular = real[~missing]
    if regular.size and float(np.max(np.abs(regular - median))) > IRREGULAR_TOLERANCE * median:
        warnings.append(
            f"irregular slice spacing: {float(regular.min()):.3f} to {float(regular.max()):.3f} mm "
            f"(median {median:.3f} mm used; distances along z are approximate)"
        )
    return median


def _check_in_plane_drift(sorted_pos: np.ndarray, normal: np.ndarray, warnings: list[str]) -> None:
    """Warn when slice origins move in-plane (a sheared/tilted acquisition shown as straight)."""
    if len(sorted_pos) < 2:
        return
    offsets = sorted_pos - sorted_pos[0]
    in_plane = offsets - np.outer(offsets @ normal, normal)
    drift = float(np.max(np.linalg.norm(in_plane, axis=1)))
    if drift > 0.5:
        warnings.append(
            f"slice positions drift {drift:.1f} mm within the image plane (gantry tilt or shear); "
            "reformats are shown unsheared"
        )
