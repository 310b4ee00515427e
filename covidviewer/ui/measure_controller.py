"""MeasurementController: wires the measuring tool, overlay, panel and store to a MainWindow.

- Measure menu and toolbar: Length (M), Angle (N), two-line angle (Shift+N), Ellipse ROI (E),
  Rectangle ROI (B); pressing a tool's key again, or Esc with nothing in progress, gives the left
  button back to window/level. Esc cancels a measurement in progress; Del deletes the selected one.
- Each series' measurements are saved as soon as they change, in the user's data folder
  (``covidviewer.ui.settings.measurement_folder``, never beside the images), keyed by the
  SeriesInstanceUID (else the files' paths), and come back when the series is opened again.
- Export JSON (panel button, Measure menu) writes them with the series' UIDs and calibration.
- Without a tool, a click (no drag) on a measurement selects it (Del then deletes it); elsewhere
  it clears the selection.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths
from PySide6.QtWidgets import QFileDialog

from covidviewer.imaging.measurement_store import MeasurementStore, series_key, write_measurements_json
from covidviewer.imaging.measurements import Calibration, calibration_of, image_outline, roi_values
from covidviewer.ui.measure_overlay import MeasurementOverlay
from covidviewer.ui.measure_tool import MeasureTool
from covidviewer.ui.measurement_panel import MeasurementPanel
from covidviewer.ui.settings import measurement_folder
from covidviewer.viewer.measurement_model import MeasurementModel, kind_name, slice_caption

# action id -> (tool, toolbar text)
TOOL_ACTIONS = {
    "measure_length": ("length", "Length"),
    "measure_angle": ("angle", "Angle"),
    "measure_lines": ("lines", "2 lines"),
    "measure_ellipse": ("ellipse", "Ellipse"),
    "measure_rectangle": ("rectangle", "Rectangle"),
}


class MeasurementController(QObject):
    """Owns the measurements of the window's main view.

    Attributes: ``model`` (MeasurementModel), ``tool`` (MeasureTool), ``overlay``, ``panel``,
    ``dock``, ``store`` (MeasurementStore), ``calibration`` of the shown volume.
    """

    def __init__(self, window, store_folder: Path | str | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.state = window.state
        self.model = MeasurementModel()
        self.tool = MeasureTool(window.viewer, self.model, self)
        self.overlay = MeasurementOverlay(window.viewer, self.model, self.tool)
        self.panel = MeasurementPanel()
        self.dock = window.add_dock(self.panel, "Measurements", area="right", object_name="dock_measurements")
        self.store = MeasurementStore(store_folder if store_folder is not None else measurement_folder())
        self.calibration: Calibration | None = None
        self._key: str | None = None
        self._restoring = False
        self._build_actions()
        self.model.events.changed.connect(self._on_changed)
        self.model.events.selected.connect(self._on_selected)
        self.panel.selectionChanged.connect(self.select)
        self.panel.deleteRequested.connect(self.model.remove)
        self.panel.exportRequested.connect(self.ask_export)
        self.tool.toolChanged.connect(self._on_tool_changed)
        self.tool.clicked.connect(self._select_at)
        self.state.events.volume.connect(self._on_volume)
        self._on_volume(self.state.volume)

    # ------------------------------------------------------------------ actions
    def _build_actions(self) -> None:
        window, menu = self.window, self.window.measure_menu
        self.toolbar = window.addToolBar("Measure")
        self.toolbar.setObjectName("toolbar_measure")
        for action_id, (tool, short) in TOOL_ACTIONS.items():
            action = window._action(action_id, menu, lambda _on=False, t=tool: self.toggle_tool(t), checkable=True)
            action.setIconText(short)
            self.toolbar.addAction(action)
        menu.addSeparator()
        window._action("measure_cancel", menu, self.escape).setEnabled(False)
        window._action("measure_delete", menu, self.delete_selected).setEnabled(False)
        menu.addSeparator()
        window._action("measure_export", menu, self.ask_export).setEnabled(False)

    def toggle_tool(self, tool: str) -> None:
        """Activate ``tool``, or give the left button back to window/level when it is active."""
        if self.state.volume is None:
            tool = None
        self.tool.set_tool(None if self.tool.tool == tool else tool)
        self._on_tool_changed(self.tool.tool)

    def escape(self) -> None:
        """Esc: cancel the measurement in progress; with none in progress, leave the tool."""
        if not self.tool.cancel():
            self.tool.set_tool(None)

    def delete_selected(self) -> None:
        if self.model.selected_id is not None:
            self.model.remove(self.model.selected_id)

    def _on_tool_changed(self, tool) -> None:
        for action_id, (name, _short) in TOOL_ACTIONS.items():
            self.window.actions[action_id].setChecked(name == tool)
        self.window.actions["measure_cancel"].setEnabled(tool is not None)

    # ------------------------------------------------------------------ series
    def _on_volume(self, volume) -> None:
        self.tool.cancel()
        if volume is None:
            self.tool.set_tool(None)
            self._key, self.calibration = None, None
            self._replace([])
        else:
            self.calibration = calibration_of(volume)
            try:
                self._key = series_key(volume)
            except ValueError:
                self._key = None
            stored = self.store.load(self._key, volume.shape) if self._key is not None else None
            for problem in stored.problems if stored is not None else ():
                self.window.show_message(problem, "warning")
            self._replace(stored.measurements if stored is not None else [])
            if stored is not None and stored.measurements:
                count = len(stored.measurements)
                self.window.show_message(f"{count} saved measurement{'s' if count != 1 else ''} restored")
        self.tool.calibration = self.calibration
        self.panel.set_calibration(self.calibration, roi_values(volume).note if volume is not None else "")
        for action_id in TOOL_ACTIONS:
            self.window.actions[action_id].setEnabled(volume is not None)

    def _replace(self, measurements) -> None:
        self._restoring = True
        try:
            self.model.replace(measurements)
        finally:
            self._restoring = False

    # ------------------------------------------------------------------ model -> panel and store
    def _on_changed(self, items) -> None:
        volume = self.state.volume
        captions = [slice_caption(volume, m, self.state.scroll_toward_feet) for m in items]
        self.panel.set_measurements(items, captions)
        self.panel.set_selected(self.model.selected_id)
        self.window.actions["measure_export"].setEnabled(bool(items))
        if self._restoring or self._key is None or volume is None:
            return
        try:
            self.store.save(self._key, items, volume.shape)
        except OSError as err:
            self.window.show_message(f"Measurements not saved ({self.store.folder}): {err.strerror or err}", "error")

    def _on_selected(self, measurement_id) -> None:
        self.panel.set_selected(measurement_id)
        self.window.actions["measure_delete"].setEnabled(measurement_id is not None)

    def _select_at(self, x_mm: float, y_mm: float) -> None:
        """A left click without a measuring tool selects the measurement under it, or none."""
        self.model.selected_id = self.overlay.measurement_at(x_mm, y_mm)

    def select(self, measurement_id: str | None) -> None:
        """Select a measurement and show its slice (its plane too, when the volume can be reformatted)."""
        self.model.selected_id = measurement_id
        measurement = self.model.get(measurement_id)
        if measurement is None or self.state.volume is None:
            return
        if measurement.plane != self.state.plane and (measurement.plane == "axial" or self.state.can_reformat):
            self.state.plane = measurement.plane
        if measurement.plane == self.state.plane:
            self.state.slice_index = measurement.slice_index

    # ------------------------------------------------------------------ DICOM SR
    def sr_records(self) -> list:
        """The measurements a DICOM SR can hold, as ``covidviewer.inference.dicom_export.MeasurementRecord``:
        those on stored frames (not reformats), sizes only in mm (a px length has no SR unit), an
        angle between two lines left out (one polyline cannot draw it). For the export actions'
        ``measurements`` hook."""
        from covidviewer.inference.dicom_export.sr import MeasurementRecord

        records = []
        for measurement in self.model.items:
            outline = image_outline(measurement)
            if outline is None:
                continue
            values: dict[str, float] = {}
            if measurement.kind == "length" and measurement.unit == "mm":
                values["length"] = measurement.value
            elif measurement.kind == "angle":
                values["angle"] = measurement.value
            elif measurement.kind == "roi":
                roi = measurement
                values.update(mean=roi.mean, sd=roi.sd, min=roi.minimum, max=roi.maximum)
                if roi.area_unit == "mm\u00b2":
                    values["area"] = roi.area
            if not values:
                continue
            records.append(MeasurementRecord(
                kind=measurement.kind, slice_index=measurement.slice_index, points=tuple(outline), values=values,
                unit=measurement.unit if measurement.kind == "roi" else "",
                label=f"{kind_name(measurement)} {measurement.label().splitlines()[0]}",
            ))
        return records

    # ------------------------------------------------------------------ export
    def ask_export(self) -> None:
        if not len(self.model):
            return
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
        meta = (self.state.volume.meta or {}) if self.state.volume is not None else {}
        number = meta.get("series_number")
        name = f"measurements_series{number}.json" if number else "measurements.json"
        path, _ = QFileDialog.getSaveFileName(self.window, "Export measurements", str(Path(folder) / name), "JSON (*.json)")
        if path:
            self.export_to(path)

    def export_to(self, path: Path | str) -> Path | None:
        """Write the measurements as JSON to ``path``; reports the outcome in the status bar."""
        try:
            written = write_measurements_json(path, self.model.items, self.state.volume, self.calibration)
        except OSError as err:
            self.window.show_message(f"Could not export the measurements to {path}: {err.strerror or err}", "error")
            return None
        self.window.show_message(f"{len(self.model)} measurement(s) exported to {written}")
        return written
