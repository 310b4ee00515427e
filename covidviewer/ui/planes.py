"""Display geometry of the three anatomical planes, Qt-free.

A ``Volume`` is indexed (z, y, x) and its ``direction`` columns say where each index axis points in
patient space (LPS). To show a plane in radiological convention we pick, for each anatomical plane,
the index axis that best matches its normal and arrange the two others so that:

- axial: anterior at the top, patient left on the screen's right;
- coronal: superior at the top, patient left on the screen's right;
- sagittal: superior at the top, anterior on the screen's left.

A 2D image (one slice) is shown exactly as stored, whatever its direction matrix says: radiographs
carry no orientation to correct for and must never be flipped behind the user's back.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from covidviewer.io.volume import Volume

PLANES = ("axial", "coronal", "sagittal")

# Patient axis (0 = L, 1 = P, 2 = S in LPS) that is normal to each plane, then the patient axes shown
# along rows and columns, each with the direction a row/column index must increase in.
_LAYOUT = {
    # plane: (normal axis, (row patient axis, row sign), (column patient axis, column sign))
    "axial": (2, (1, +1), (0, +1)),      # rows run anterior -> posterior, columns right -> left
    "coronal": (1, (2, -1), (0, +1)),    # rows run superior -> inferior, columns right -> left
    "sagittal": (0, (2, -1), (1, +1)),   # rows run superior -> inferior, columns anterior -> posterior
}


@dataclass(frozen=True)
class PlaneGeometry:
    """How to cut one plane out of a (z, y, x) array and where its pixels sit.

    slice_axis/row_axis/col_axis: index axes of the volume (0 = z, 1 = y, 2 = x).
    flip_rows/flip_cols: reverse the displayed rows/columns to reach the display convention.
    row_mm/col_mm: pixel size in millimetres along displayed rows (vertical) and columns.
    """

    plane: str
    slice_axis: int
    row_axis: int
    col_axis: int
    flip_rows: bool
    flip_cols: bool
    n_slices: int
    n_rows: int
    n_cols: int
    row_mm: float
    col_mm: float

    @property
    def shape(self) -> tuple[int, int]:
        """Displayed (rows, columns)."""
        return (self.n_rows, self.n_cols)

    @property
    def aspect(self) -> float:
        """Height of one displayed pixel over its width (1.0 for square pixels)."""
        return self.row_mm / self.col_mm

    def cut(self, array: np.ndarray, index: int) -> np.ndarray:
        """The displayed 2D image of ``array`` (z, y, x[, c]) at slice ``index`` (a view, no copy)."""
        sl = np.take(array, index, axis=self.slice_axis)
        # After removing slice_axis the remaining index axes keep their order; put rows first.
        remaining = [a for a in (0, 1, 2) if a != self.slice_axis]
        if remaining.index(self.row_axis) != 0:
            sl = np.swapaxes(sl, 0, 1)
        if self.flip_rows:
            sl = sl[::-1]
        if self.flip_cols:
            sl = sl[:, ::-1]
        return sl

    def to_voxel(self, index: int, row: float, col: float) -> tuple[float, float, float]:
        """(z, y, x) voxel index of displayed pixel (row, col) on slice ``index``."""
        if self.flip_rows:
            row = self.n_rows - 1 - row
        if self.flip_cols:
            col = self.n_cols - 1 - col
        voxel = [0.0, 0.0, 0.0]
        voxel[self.slice_axis] = float(index)
        voxel[self.row_axis] = float(row)
        voxel[self.col_axis] = float(col)
        return (voxel[0], voxel[1], voxel[2])

    def from_voxel(self, z: float, y: float, x: float) -> tuple[int, float, float]:
        """(slice index, row, col) at which voxel (z, y, x) is displayed."""
        voxel = (z, y, x)
        row, col = voxel[self.row_axis], voxel[self.col_axis]
        if self.flip_rows:
            row = self.n_rows - 1 - row
        if self.flip_cols:
            col = self.n_cols - 1 - col
        return int(round(voxel[self.slice_axis])), float(row), float(col)


def plane_geometry(volume: Volume, plane: str) -> PlaneGeometry:
    """Geometry of ``plane`` ("axial", "coronal" or "sagittal") for ``volume``."""
    if plane not in PLANES:
        raise ValueError(f"plane {plane!r} not in {PLANES}")
    shape = volume.shape
    spacing = tuple(float(s) for s in volume.spacing)
    if volume.is_2d:
        # Shown as stored; other planes of a single image are a one-pixel-thick line.
        axes = {"axial": (0, 1, 2), "coronal": (1, 0, 2), "sagittal": (2, 0, 1)}[plane]
        return _geometry(plane, axes, (False, False), shape, spacing)

    # direction columns are patient vectors of the x, y, z index axes; reorder to z, y, x.
    direction = np.asarray(volume.direction, dtype=float)[:, ::-1]
    patient_axis_of_index = _match_axes(direction)
    index_of_patient = {p: i for i, p in enumerate(patient_axis_of_index)}
    normal, (row_patient, row_sign), (col_patient, col_sign) = _LAYOUT[plane]
    slice_axis = index_of_patient[normal]
    row_axis = index_of_patient[row_patient]
    col_axis = index_of_patient[col_patient]
    # Flip when the index axis points against the wanted patient direction.
    flip_rows = np.sign(direction[row_patient, row_axis]) != row_sign
    flip_cols = np.sign(direction[col_patient, col_axis]) != col_sign
    return _geometry(plane, (slice_axis, row_axis, col_axis), (bool(flip_rows), bool(flip_cols)), shape, spacing)


def _match_axes(direction_zyx: np.ndarray) -> list[int]:
    """Patient axis (0..2) best matched by each index axis (z, y, x), one-to-one.

    Greedy on the largest absolute cosine, so an oblique stack still maps each index axis to a
    distinct anatomical axis.
    """
    weights = np.abs(direction_zyx)  # [patient axis, index axis]
    result = [-1, -1, -1]
    used_patient: set[int] = set()
    for flat in np.argsort(-weights, axis=None):
        patient, index = np.unravel_index(flat, weights.shape)
        if result[index] == -1 and patient not in used_patient:
            result[index] = int(patient)
            used_patient.add(int(patient))
    return result


def _geometry(
    plane: str,
    axes: tuple[int, int, int],
    flips: tuple[bool, bool],
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
) -> PlaneGeometry:
    slice_axis, row_axis, col_axis = axes
    return PlaneGeometry(
        plane=plane,
        slice_axis=slice_axis,
        row_axis=row_axis,
        col_axis=col_axis,
        flip_rows=flips[0],
        flip_cols=flips[1],
        n_slices=int(shape[slice_axis]),
        n_rows=int(shape[row_axis]),
        n_cols=int(shape[col_axis]),
        row_mm=spacing[row_axis] if spacing[row_axis] > 0 else 1.0,
        col_mm=spacing[col_axis] if spacing[col_axis] > 0 else 1.0,
    )
