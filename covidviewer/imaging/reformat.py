"""Axial / coronal / sagittal reformats of a (z, y, x) Volume in radiological display convention.

Each index axis is matched to the anatomical axis (L, P, S) its direction vector is closest to,
then the plane is cut and flipped so that:

- axial: anterior at the top, the patient's left on the image's right;
- coronal: superior at the top, the patient's left on the image's right;
- sagittal: superior at the top, anterior on the image's left.

A single 2D image is shown exactly as stored: a radiograph has no orientation to correct.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covidviewer.io.volume import Volume

PLANES = ("axial", "coronal", "sagittal")

# plane -> (patient axis normal to it, (patient axis down the rows, sign), (across columns, sign));
# patient axes in LPS: 0 = towards Left, 1 = towards Posterior, 2 = towards Superior.
_LAYOUT = {
    "axial": (2, (1, +1), (0, +1)),
    "coronal": (1, (2, -1), (0, +1)),
    "sagittal": (0, (2, -1), (1, +1)),
}


@dataclass(frozen=True)
class PlaneCut:
    """Where a plane lies in the volume's index space and how to display it."""

    plane: str
    slice_axis: int
    row_axis: int
    col_axis: int
    flip_rows: bool
    flip_cols: bool
    n_slices: int
    aspect: float  # displayed pixel height / width (row spacing / column spacing)

    def cut(self, array: np.ndarray, index: int) -> np.ndarray:
        """The displayed 2D image of ``array`` (z, y, x[, c]) at slice ``index`` (a view, no copy)."""
        image = array[(slice(None),) * self.slice_axis + (index,)]  # np.take would copy the slice
        # after removing slice_axis the remaining index axes keep their order; put rows first
        remaining = [a for a in (0, 1, 2) if a != self.slice_axis]
        if remaining.index(self.row_axis) != 0:
            image = np.swapaxes(image, 0, 1)
        if self.flip_rows:
            image = image[::-1]
        if self.flip_cols:
            image = image[:, ::-1]
        return image


def _patient_axes(direction: np.ndarray) -> list[int]:
    """Patient axis matched one-to-one to each index axis (z, y, x), by largest |cosine|."""
    weights = np.abs(direction)  # [patient axis, index axis]
    matched = [-1, -1, -1]
    used: set[int] = set()
    for flat in np.argsort(-weights, axis=None, kind="stable"):
        patient, index = (int(v) for v in np.unravel_index(flat, weights.shape))
        if matched[index] == -1 and patient not in used:
            matched[index] = patient
            used.add(patient)
    return matched


def plane_cut(volume: Volume, plane: str) -> PlaneCut:
    """How ``plane`` is cut from ``volume`` (index axes, flips, number of slices, aspect)."""
    if plane not in PLANES:
        raise ValueError(f"plane {plane!r} not in {PLANES}")
    shape, spacing = volume.shape, tuple(float(s) if s > 0 else 1.0 for s in volume.spacing)
    if volume.is_2d:
        slice_axis, row_axis, col_axis = {"axial": (0, 1, 2), "coronal": (1, 0, 2), "sagittal": (2, 0, 1)}[plane]
        flips = (False, False)
    else:
        # Volume.direction columns are the x, y, z index axes; reorder to z, y, x.
        direction = np.asarray(volume.direction, dtype=float)[:, ::-1]
        index_of = {p: i for i, p in enumerate(_patient_axes(direction))}
        normal, (row_patient, row_sign), (col_patient, col_sign) = _LAYOUT[plane]
        slice_axis, row_axis, col_axis = index_of[normal], index_of[row_patient], index_of[col_patient]
        flips = (
            bool(np.sign(direction[row_patient, row_axis]) != row_sign),
            bool(np.sign(direction[col_patient, col_axis]) != col_sign),
        )
    return PlaneCut(
        plane, slice_axis, row_axis, col_axis, flips[0], flips[1], int(shape[slice_axis]),
        spacing[row_axis] / spacing[col_axis],
    )


def reformat(volume: Volume, plane: str, index: int) -> tuple[np.ndarray, float]:
    """(2D image of ``plane`` at slice ``index``, pixel aspect = row spacing / column spacing).

    The image is a contiguous copy (rows, cols) or (rows, cols, 3) for RGB volumes; index is
    clipped to the plane's slice range.
    """
    cut = plane_cut(volume, plane)
    index = int(np.clip(index, 0, cut.n_slices - 1))
    return np.ascontiguousarray(cut.cut(volume.pixels, index)), cut.aspect
