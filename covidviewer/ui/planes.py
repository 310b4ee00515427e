"""Display geometry of the three anatomical planes for the viewer, Qt-free.

``covidviewer.imaging.plane_cut`` decides the radiological layout (axial: anterior up, patient left
on the right; coronal/sagittal: superior up; a 2D radiograph is shown exactly as stored). This
module adds what a view needs on top: displayed size, pixel size in mm and mapping displayed
pixels to voxels and back (cutting any (z, y, x) array without copying is PlaneCut's).
"""
from __future__ import annotations

from dataclasses import dataclass, fields


from covidviewer.imaging import PLANES, plane_cut
from covidviewer.imaging.reformat import PlaneCut
from covidviewer.io.volume import Volume

__all__ = ["PLANES", "PlaneGeometry", "plane_geometry"]


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


def plane_geometry(volume: Volume, plane: str) -> PlaneGeometry:
    """Geometry of ``plane`` ("axial", "coronal" or "sagittal") for ``volume``.

    The axis matching and flips come from ``covidviewer.imaging.plane_cut`` (the same reformat
    the exports use); this adds the sizes and millimetre spacing the view needs.
    """
    cut = plane_cut(volume, plane)
    shape = volume.shape
    spacing = tuple(float(s) if s > 0 else 1.0 for s in volume.spacing)
    return PlaneGeometry(
        **{f.name: getattr(cut, f.name) for f in fields(PlaneCut)},
        n_rows=int(shape[cut.row_axis]),
        n_cols=int(shape[cut.col_axis]),
        row_mm=spacing[cut.row_axis],
        col_mm=spacing[cut.col_axis],
    )
