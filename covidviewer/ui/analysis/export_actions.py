"""Export actions of the Analysis dock: ask for a path, render on the GUI thread, write in a worker.

The save dialog never starts in the input's folder: it remembers the last export folder, else the
user's Pictures (or Documents) folder, and proposes a name of study description, series, slice,
model and method (never the patient; ``covidviewer.inference.result_files.export_file_stem``).
Rendering a captioned QImage (``captioned_image``) is quick, but encoding a 2000-pixel PNG takes a
second or more, so the encoding and the write (``export_files``) run as a ``Task``. ``exported(Path)`` reports success; failures go to the window's
messages like every other error. "Save as DICOM Secondary Capture + SR..." (Analysis menu) writes
both DICOM files with ``covidviewer.inference.dicom_export``, anonymised on request.
"""
from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QFileDialog, QMenu

from covidviewer.analysis.methods import method_label
from covidviewer.ui.analysis.captioned_image import pane_image, result_caption, with_caption
from covidviewer.ui.analysis.dicom_dialog import DicomExportDialog
from covidviewer.ui.analysis.export_files import ExportError, check_target, png_target, save_png, save_predictions_json
from covidviewer.ui.image_canvas import array_from_qimage
from covidviewer.ui.tasks import Task

EXPORT_DIR_KEY = "analysis/export_dir"
DICOM_ANONYMISE_KEY = "analysis/dicom_anonymise"
DICOM_ACTION_TEXT = "Save as DICOM Secondary Capture + SR\u2026"


class ExportActions(QObject):
    """PNG of the view, PNG of the compare grid, JSON of the predictions and DICOM SC + SR, for one
    AnalysisController.

    Each method takes an explicit ``path`` (tests, scripts) or asks with a save dialog when None,
    and returns the started Task (None when nothing was started). Signal ``exported(Path)``.
    """

    exported = Signal(object)

    def __init__(self, controller) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self._tasks: set[Task] = set()
        self._uid_map = None  # one UIDMap per session: repeated anonymised exports map UIDs alike
        #: () -> list[MeasurementRecord] of the shown volume; the SR lists them (none until set)
        self.measurements = lambda: []
        self.dicom_action = self._install_dicom_action()

    def view_png(self, path: str | Path | None = None) -> Task | None:
        """The main view's slice with the shown map, captioned with model, version, SHA and notice."""
        c = self.controller
        key = c.current_key
        result = None if key is None or c.run is None else c.run.maps().get(key)
        if result is None:
            self.window.show_message("No attention map to export", "warning")
            return None
        return self._view_png(self.window.viewer, result_caption(key, result, self._where()), path,
                              self.default_stem(key.model, key.method))

    def pane_png(self, pane, path: str | Path | None = None) -> Task | None:
        """One compare pane (a ``ComparePane``) as drawn, with its caption and the notice."""
        return self._view_png(pane.view, pane.caption_lines(), path, self.default_stem(pane.key.model, pane.key.method))

    def _view_png(self, view, caption: list[str], path, stem: str) -> Task | None:
        target = self._target(path, "Export the view as PNG", "PNG image (*.png)", ".png", png=True, stem=stem)
        if target is None:
            return None
        image = with_caption(pane_image(view), caption)
        return self._write(lambda: save_png(image, target, self._inputs()))

    def grid_png(self, path: str | Path | None = None) -> Task | None:
        """The compare grid: panes with captions, colour scale, agreement numbers, notice."""
        compare = self.controller.compare_presenter.compare_window
        if compare is None or not compare.panes:
            self.window.show_message("Open the compare view first", "warning")
            return None
        target = self._target(path, "Export the compare grid as PNG", "PNG image (*.png)", ".png", png=True,
                              stem=self.default_stem("compare"))
        if target is None:
            return None
        image = compare.grid_png()
        return self._write(lambda: save_png(image, target, self._inputs()))

    def predictions_json(self, path: str | Path | None = None) -> Task | None:
        """Every (model, method) result of the last run in the ``predict`` command's JSON schema."""
        run = self.controller.run
        if run is None:
            self.window.show_message("Nothing analysed yet", "warning")
            return None
        target = self._target(path, "Export the predictions as JSON", "JSON (*.json)", ".json",
                              stem=self.default_stem("predictions"))
        if target is None:
            return None
        return self._write(lambda: save_predictions_json(run, target, self._inputs()))

    def dicom(self, folder: str | Path | None = None, stem: str | None = None, anonymised: bool = False) -> Task | None:
        """A Secondary Capture of the main view (map, captions, notice) and a Comprehensive SR of the
        shown model's result, as ``<stem>_SC.dcm`` and ``<stem>_SR.dcm`` in ``folder``; asks for the
        folder, name and anonymisation when ``folder`` is None. ``exported`` gets the SC's path."""
        c = self.controller
        volume = c.run_volume
        if c.run is None or volume is None or volume is not c.state.volume:
            self.window.show_message("Analyse the image before saving DICOM results", "warning")
            return None
        if volume.meta.get("format") != "dicom":
            self.window.show_message("DICOM results need a DICOM image (they belong to its study and series)", "warning")
            return None
        key, shown, report = self._dicom_result()
        if report is None:
            self.window.show_message("No model result to save", "warning")
            return None
        default = self.default_stem(key.model, key.method)
        if folder is None:
            choice = self._ask_dicom(default)
            if choice is None:
                return None
            folder, stem, anonymised = choice
        stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "-", stem or default).strip(" .") or default
        caption = result_caption(key, shown, self._where())
        try:
            # an anonymised SC must not carry the patient in its burned-in corner text
            view_image = pane_image(self.window.viewer, anonymise=True if anonymised else None)
            rgb = array_from_qimage(with_caption(view_image, caption))[..., :3].copy()
        except ExportError as exc:
            self.controller.report_error(f"Export failed: {exc}")
            return None
        slice_index, native = self._dicom_geometry(volume, report)
        measurements = list(self.measurements())
        folder, anonymised = Path(folder).expanduser(), bool(anonymised)
        return self._write(lambda: self._write_dicom(rgb, volume, slice_index, native, report, folder, stem,
                                                      caption, measurements, anonymised))

    def wait(self, timeout_s: float = 30.0) -> None:
        """Block until running exports are written (shutdown and tests only)."""
        for task in list(self._tasks):
            task.wait(timeout_s)

    def default_stem(self, model: str = "", method: str = "") -> str:
        """The proposed file name: study description, series, slice, model, method; no patient."""
        # Imported here: covidviewer.inference imports the models; the window opens without them,
        # and exports are possible only after an analysis, which has imported them.
        from covidviewer.inference.result_files import export_file_stem

        c = self.controller
        volume = c.run_volume or c.state.volume
        meta = volume.meta if volume is not None else {}
        return export_file_stem(meta, slice_text=self._slice_text(short=True), model=model,
                                method=method_label(method) if method else "")

    def default_folder(self) -> str:
        """The last export folder while it exists, else the user's Pictures, Documents or home folder."""
        last = self.window.settings.qsettings.value(EXPORT_DIR_KEY)
        candidates = [str(last)] if last else []
        for location in (QStandardPaths.StandardLocation.PicturesLocation, QStandardPaths.StandardLocation.DocumentsLocation):
            candidates.append(QStandardPaths.writableLocation(location))
        return next((c for c in candidates if c and Path(c).is_dir()), str(Path.home()))

    # ------------------------------------------------------------------ helpers
    def _install_dicom_action(self) -> QAction:
        """"Save as DICOM Secondary Capture + SR..." after Export JSON in the Analysis menu, enabled with it."""
        action = QAction(DICOM_ACTION_TEXT, self.window)
        action.setObjectName("export_dicom")
        action.setStatusTip("The view with the map as a DICOM Secondary Capture and the result as a DICOM SR, "
                            "in the image's study (optionally anonymised)")
        action.triggered.connect(lambda: self.dicom())
        anchor = self.window.actions.get("export_json")
        if anchor is None:
            return action
        for menu in anchor.associatedObjects():
            if isinstance(menu, QMenu):
                actions = menu.actions()
                following = actions[actions.index(anchor) + 1:]
                if following:
                    menu.insertAction(following[0], action)
                else:
                    menu.addAction(action)
        action.setEnabled(anchor.isEnabled())
        anchor.changed.connect(lambda: action.setEnabled(anchor.isEnabled()))
        return action

    def _dicom_result(self):
        """(map key, result shown, result to report): the shown map's model (a cascade reports all
        its stages), else the first model that answered (without a map)."""
        from covidviewer.analysis.maps import MapKey

        run, key = self.controller.run, self.controller.current_key
        if key is not None and key in run.maps():
            return key, run.maps()[key], run.results.get((key.model, key.method), run.maps()[key])
        answered = next((r for r in run.model_results() if r.ok), None)
        if answered is None:
            return None, None, None
        return MapKey(answered.model, answered.method or "none"), answered, answered

    def _dicom_geometry(self, volume, result) -> tuple[int, bool]:
        """(source slice of the shown view, whether the pixels keep the source's row / column
        directions): the analysed or shown axial slice; a reformat refers to the middle slice."""
        state = self.controller.state
        rotation, mirrored = tuple(getattr(state, "display", (0, False, False)))[:2]
        axial = volume.is_2d or state.plane == "axial"
        if result.slice_index is not None:
            z = result.slice_index
        else:
            z = state.slice_index if axial else volume.shape[0] // 2
        return min(max(int(z), 0), volume.shape[0] - 1), axial and rotation == 0 and not mirrored

    def _write_dicom(self, rgb, volume, slice_index, native, result, folder, stem, caption, measurements, anonymised) -> Path:
        """Worker: read the source headers, build both objects, write them (highdicom is imported here)."""
        from covidviewer.inference.dicom_export import DicomExportError, UIDMap, dicom_source, write_dicom_outputs

        if self._uid_map is None:
            self._uid_map = UIDMap()
        try:
            source = dicom_source(volume, slice_index, [m.slice_index for m in measurements])
            written = write_dicom_outputs(
                rgb, source, result, folder, stem, captions=caption, measurements=measurements,
                anonymised=anonymised, uid_map=self._uid_map, native_orientation=native,
            )
        except DicomExportError as exc:
            raise ExportError(str(exc)) from exc
        return written.secondary_capture

    def _ask_dicom(self, stem: str) -> tuple[Path, str, bool] | None:
        """Folder, name and anonymisation from the DICOM dialog (the choice to anonymise is remembered)."""
        settings = self.window.settings.qsettings
        anonymise = str(settings.value(DICOM_ANONYMISE_KEY, "false")).lower() == "true"
        dialog = DicomExportDialog(self.window, self.default_folder(), stem, anonymise)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        settings.setValue(DICOM_ANONYMISE_KEY, dialog.anonymised())
        return dialog.folder(), dialog.stem(), dialog.anonymised()

    def _where(self) -> str:
        """Caption text naming the series and slice ("series 3 Lung 1.25mm  axial slice 12/40")."""
        volume = self.controller.run_volume or self.controller.state.volume
        meta = volume.meta if volume is not None else {}
        number, description = str(meta.get("series_number") or ""), str(meta.get("series_description") or "")
        series = f"series {number} {description}".strip() if number or description else ""
        return "  ".join(part for part in (series, self._slice_text()) if part)

    def _slice_text(self, short: bool = False) -> str:
        """"axial slice 12/40" (captions) or "axial 12 of 40" (file names); "" for a single image."""
        state = self.controller.state
        if state.n_slices <= 1:
            return ""
        number = getattr(state, "slice_number", state.slice_index + 1)
        return f"{state.plane} {number} of {state.n_slices}" if short else f"{state.plane} slice {number}/{state.n_slices}"

    def _target(self, path, title: str, filters: str, suffix: str, png: bool = False, stem: str = "") -> Path | None:
        """The checked output path (asked for when None); errors are reported and give None."""
        if path is None:
            path = self._ask(title, filters, suffix, stem or self.default_stem())
            if path is None:
                return None
        try:
            return png_target(Path(path), self._inputs()) if png else check_target(Path(path), self._inputs())
        except ExportError as exc:
            self.controller.report_error(f"Export failed: {exc}")
            return None

    def _write(self, write) -> Task:
        task = Task("export", lambda ctx: write(), self)
        task.succeeded.connect(self._on_written)
        task.failed.connect(lambda err, tb: self.controller.report_error(
            f"Export failed: {err}", "" if isinstance(err, ExportError) else tb))  # a bug keeps its traceback
        task.finished.connect(lambda: self._tasks.discard(task))
        self._tasks.add(task)
        self.window.show_message("Exporting\u2026")
        task.start()
        return task

    def _on_written(self, written: Path) -> None:
        self.window.settings.qsettings.setValue(EXPORT_DIR_KEY, str(written.parent))
        self.window.show_message(f"Exported {written}")
        self.exported.emit(written)

    def _ask(self, title: str, filters: str, suffix: str, stem: str) -> str | None:
        # Never default to the input's folder: exports go where the user decides.
        start = Path(self.default_folder()) / f"{stem}{suffix}"
        path, _ = QFileDialog.getSaveFileName(self.window, title, str(start), filters)
        return path or None

    def _inputs(self) -> list[Path]:
        c = self.controller
        volume = c.run_volume or c.state.volume
        return [Path(p) for p in volume.sources] if volume is not None else []
