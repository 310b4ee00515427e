"""Export actions of the Analysis dock: ask for a path, render on the GUI thread, write in a worker.

The save dialog never starts in the input's folder (it remembers the last export folder, else the
Pictures folder); rendering a captioned QImage is quick, but encoding a 2000-pixel PNG takes a
second or more, so the encoding and the write run as a ``Task``. ``exported(Path)`` reports success;
failures go to the window's messages like every other error.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QFileDialog

from covidviewer.ui.analysis.export import (
    ExportError,
    check_target,
    pane_image,
    png_target,
    result_caption,
    save_image,
    save_predictions_json,
    with_caption,
)
from covidviewer.ui.tasks import Task

EXPORT_DIR_KEY = "analysis/export_dir"


class AnalysisExporter(QObject):
    """PNG of the view, PNG of the compare grid, JSON of the predictions, for one AnalysisController.

    Each method takes an explicit ``path`` (tests, scripts) or asks with a save dialog when None,
    and returns the started Task (None when nothing was started). Signal ``exported(Path)``.
    """

    exported = Signal(object)

    def __init__(self, controller) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self._tasks: set[Task] = set()

    def view_png(self, path: str | Path | None = None) -> Task | None:
        """The main view's slice with the shown map, captioned with model, version, SHA and notice."""
        c = self.controller
        key = c.current_key
        result = None if key is None or c.run is None else c.run.maps().get(key)
        if result is None:
            self.window.show_message("No attention map to export", "warning")
            return None
        state = c.state
        where = f"{state.plane} slice {state.slice_index + 1}/{state.n_slices}" if state.n_slices > 1 else ""
        return self._view_png(self.window.viewer, result_caption(key, result, where), path)

    def pane_png(self, pane, path: str | Path | None = None) -> Task | None:
        """One compare pane (a ``ComparePane``) as drawn, with its caption and the notice."""
        return self._view_png(pane.view, pane.caption_lines(), path)

    def _view_png(self, view, caption: list[str], path) -> Task | None:
        target = self._target(path, "Export the view as PNG", "PNG image (*.png)", ".png", png=True)
        if target is None:
            return None
        image = with_caption(pane_image(view), caption)
        return self._write(lambda: save_image(image, target, self._inputs()))

    def grid_png(self, path: str | Path | None = None) -> Task | None:
        """The compare grid: panes with captions, colour scale, agreement numbers, notice."""
        compare = self.controller.compare_window
        if compare is None or not compare.panes:
            self.window.show_message("Open the compare view first", "warning")
            return None
        target = self._target(path, "Export the compare grid as PNG", "PNG image (*.png)", ".png", png=True)
        if target is None:
            return None
        image = compare.grid_png()
        return self._write(lambda: save_image(image, target, self._inputs()))

    def predictions_json(self, path: str | Path | None = None) -> Task | None:
        """Every (model, method) result of the last run in the ``predict`` command's JSON schema."""
        run = self.controller.run
        if run is None:
            self.window.show_message("Nothing analysed yet", "warning")
            return None
        target = self._target(path, "Export the predictions as JSON", "JSON (*.json)", ".json")
        if target is None:
            return None
        return self._write(lambda: save_predictions_json(run, target, self._inputs()))

    def wait(self, timeout_s: float = 30.0) -> None:
        """Block until running exports are written (shutdown and tests only)."""
        for task in list(self._tasks):
            task.wait(timeout_s)

    # ------------------------------------------------------------------ helpers
    def _target(self, path, title: str, filters: str, suffix: str, png: bool = False) -> Path | None:
        """The checked output path (asked for when None); errors are reported and give None."""
        if path is None:
            path = self._ask(title, filters, suffix)
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

    def _ask(self, title: str, filters: str, suffix: str) -> str | None:
        # Never default to the input's folder: exports go where the user decides.
        start = self.window.settings.qsettings.value(EXPORT_DIR_KEY) or QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.PicturesLocation) or str(Path.home())
        run = self.controller.run
        stem = run.image_hash[:12] if run is not None else "analysis"
        path, _ = QFileDialog.getSaveFileName(self.window, title, str(Path(str(start)) / f"covidviewer-{stem}{suffix}"), filters)
        return path or None

    def _inputs(self) -> list[Path]:
        c = self.controller
        volume = c.run_volume or c.state.volume
        return [Path(p) for p in volume.sources] if volume is not None else []
