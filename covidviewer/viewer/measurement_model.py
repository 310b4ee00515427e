"""The measurements of the shown series and which one is selected, Qt-free and observable.

``MeasurementModel`` is what the measurement tool adds to, the overlay draws, the panel lists and
the store saves; ``scene_to_voxel`` / ``voxel_to_scene`` map a view's scene millimetres to voxel
indices and back through the plane geometry, rotation and mirror included, so a measurement stays
on the same anatomy however the view is turned.
"""
from __future__ import annotations

from covidviewer.imaging.measurements import Measurement, Point
from covidviewer.viewer.events import EventedField, EventedState
from covidviewer.viewer.planes import PlaneGeometry, plane_geometry, reading_sign

KIND_NAMES = {"length": "Length", "angle": "Angle", "lines": "Angle (2 lines)", "ellipse": "Ellipse ROI",
              "rectangle": "Rectangle ROI"}


def _known_id(model: MeasurementModel, measurement_id: str | None) -> str | None:
    # selecting an id that is not in the list selects nothing
    return measurement_id if measurement_id is not None and model.get(measurement_id) is not None else None


class MeasurementModel(EventedState):
    """An ordered list of measurements with a selection.

    Events: ``events.changed(list)`` after any add, removal or replacement; ``events.selected(id | None)``
    when ``selected_id`` changes. The selection is a declared field (assigning it validates, compares and
    emits); the list changes only through ``add`` / ``remove`` / ``replace``, which announce ``changed``
    once the list is stored (after ``selected`` when they also drop the selection).
    """

    EVENTS = {"changed": "items", "selected": "selected_id"}

    #: the selected measurement's id; an id not in the list becomes None
    selected_id: EventedField[str | None] = EventedField(None, validate=_known_id, event="selected")

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Measurement] = []

    @property
    def items(self) -> list[Measurement]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, measurement_id: str | None) -> Measurement | None:
        return next((m for m in self._items if m.id == measurement_id), None)

    def add(self, measurement: Measurement) -> None:
        self._items.append(measurement)
        self.announce("changed")

    def remove(self, measurement_id: str) -> bool:
        """Delete one measurement (and its selection); False when there is no such id."""
        kept = [m for m in self._items if m.id != measurement_id]
        if len(kept) == len(self._items):
            return False
        self._items = kept
        if self.selected_id == measurement_id:
            self.selected_id = None
        self.announce("changed")
        return True

    def replace(self, measurements: list[Measurement]) -> None:
        """Another series' measurements (or none): the selection goes."""
        self._items = list(measurements)
        self.selected_id = None
        self.announce("changed")

    def on_slice(self, plane: str, index: int) -> list[Measurement]:
        """The measurements drawn on slice ``index`` of ``plane``."""
        return [m for m in self._items if m.plane == plane and m.slice_index == index]


def kind_name(measurement: Measurement) -> str:
    """"Length", "Angle", "Angle (2 lines)", "Ellipse ROI" or "Rectangle ROI"."""
    if measurement.kind == "roi":
        return KIND_NAMES[getattr(measurement, "shape")]
    if measurement.kind == "angle" and len(measurement.points) == 4:
        return KIND_NAMES["lines"]
    return KIND_NAMES.get(measurement.kind, measurement.kind)


def scene_to_voxel(geometry: PlaneGeometry, slice_index: int, x_mm: float, y_mm: float) -> Point:
    """(z, y, x) voxel index under scene point (x_mm, y_mm), kept on the image (pixel centres at integers)."""
    col = min(max(x_mm / geometry.col_mm - 0.5, -0.5), geometry.n_cols - 0.5)
    row = min(max(y_mm / geometry.row_mm - 0.5, -0.5), geometry.n_rows - 0.5)
    return geometry.to_voxel(slice_index, row, col)


def voxel_to_scene(geometry: PlaneGeometry, point: Point) -> tuple[float, float]:
    """Scene (x_mm, y_mm) at which voxel ``point`` is drawn in ``geometry``."""
    _index, row, col = geometry.from_voxel(*point)
    return ((col + 0.5) * geometry.col_mm, (row + 0.5) * geometry.row_mm)


def slice_caption(volume, measurement: Measurement, scroll_toward_feet: bool = True) -> str:
    """"Axial 12" (the slice number in reading order, as the view counts it), or "Image" for a 2D image."""
    if volume is None or volume.is_2d:
        return "Image"
    geometry = plane_geometry(volume, measurement.plane)
    forward = not scroll_toward_feet or reading_sign(volume, geometry) > 0
    number = measurement.slice_index + 1 if forward else geometry.n_slices - measurement.slice_index
    return f"{measurement.plane.capitalize()} {number}"
