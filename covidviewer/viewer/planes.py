"""Display geometry of the three anatomical planes for the viewer, Qt-free.

``covidviewer.imaging.plane_cut`` decides the radiological layout (axial: anterior up, patient left
on the right; coronal/sagittal: superior up; a 2D radiograph is shown exactly as stored). This
module adds what a view needs on top: displayed size, pixel size in mm, mapping displayed
pixels to voxels and back (cutting any (z, y, x) array without copying is PlaneCut's), the
reader's rotation / mirror folded into the same axes and flips, and the reading direction of
scrolling (``reading_sign``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from covidviewer.imaging import PLANES, plane_cut
from covidviewer.imaging.orientation import index_directions
from covidviewer.imaging.reformat import PlaneCut
from covidviewer.io.volume import Volume

__all__ = ["PLANES", "READING_DIRECTIONS", "PlaneGeometry", "plane_geometry", "reading_sign", "slice_position_mm"]

# Where "next slice" (wheel down, Down, slider to the right) goes when reading, per plane, in LPS:
# axial towards the feet (as Weasis and OHIF scroll a head-first CT), coronal front to back,
# sagittal from the patient's right to left.
READING_DIRECTIONS = {"axial": (0.0, 0.0, -1.0), "coronal": (0.0, 1.0, 0.0), "sagittal": (1.0, 0.0, 0.0)}
# The LPS axis whose coordinate names a slice's position ("Loc") in each plane.
_POSITION_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}


@dataclass(frozen=True)
class PlaneGeometry(PlaneCut):
    """A PlaneCut (axes, flips, ``cut``) plus what a view needs: displayed size and pixel size.

    row_mm/col_mm: pixel size in millimetres along displayed rows (vertical) and columns.
    """

    n_rows: int
    n_cols: int
    row_mm: float
    col_mm: float

    @property
    def shape(self) -> tuple[int, int]:
        """Displayed (rows, columns)."""
        return (self.n_rows, self.n_cols)

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


def plane_geometry(volume: Volume, plane: str, rotation: int = 0, mirrored: bool = False) -> PlaneGeometry:
    """Geometry of ``plane`` ("axial", "coronal" or "sagittal") for ``volume``.

    The axis matching and flips come from ``covidviewer.imaging.plane_cut`` (the same reformat
    the exports use); this adds the sizes and millimetre spacing the view needs. ``rotation``
    (quarter turns clockwise) and then ``mirrored`` (left-right) are the reader's own turns: they
    become other row/column axes and flips, so cutting, voxel lookup, overlays and orientation
    markers follow without a second code path.
    """
    cut = plane_cut(volume, plane)
    spacing = tuple(float(s) if s > 0 else 1.0 for s in volume.spacing)
    values = {f.name: getattr(cut, f.name) for f in fields(PlaneCut)}
    rows, cols = (cut.row_axis, cut.flip_rows), (cut.col_axis, cut.flip_cols)
    for _ in range(int(rotation) % 4):
        # clockwise: new row i is old column i; new column j is old row (n - 1 - j)
        rows, cols = cols, (rows[0], not rows[1])
    if mirrored:
        cols = (cols[0], not cols[1])
    values.update(row_axis=rows[0], flip_rows=rows[1], col_axis=cols[0], flip_cols=cols[1])
    values["aspect"] = spacing[rows[0]] / spacing[cols[0]]
    return PlaneGeometry(
        **values,
        n_rows=int(volume.shape[rows[0]]),
        n_cols=int(volume.shape[cols[0]]),
        row_mm=spacing[rows[0]],
        col_mm=spacing[cols[0]],
    )


def reading_sign(volume: Volume, geometry: PlaneCut) -> int:
    """+1 when a higher slice index lies further in the plane's reading direction, else -1.

    A head-first axial CT stored feet to head (slice 1 in the abdomen) gets -1, so "next slice"
    still moves towards the feet. A stack without orientation (or a single image) reads as stored.
    """
    directions = index_directions(volume)
    if directions is None or volume.is_2d:
        return 1
    along = float(np.dot(directions[:, 2 - geometry.slice_axis], READING_DIRECTIONS[geometry.plane]))
    return -1 if along < 0 else 1


def slice_position_mm(volume: Volume, geometry: PlaneCut, index: int) -> float | None:
    """Patient coordinate (mm, LPS) of slice ``index`` along the plane's axis; None when unknown.

    Axial: z (superior positive, as DICOM's SliceLocation usually is); coronal: y; sagittal: x.
    """
    if index_directions(volume) is None or (volume.meta or {}).get("orientation") is None or volume.is_2d:
        return None
    voxel = [0.0, 0.0, 0.0]
    voxel[geometry.slice_axis] = float(index)
    return float(volume.voxel_to_patient(*voxel)[_POSITION_AXIS[geometry.plane]])
