"""AnalysisController: wires the Analysis dock and the Analyse / Compare / Export actions to its parts:
the worker side (``worker_tasks``: model listing and analysis tasks on a Predictor pool), the main
view's overlay (``overlay_presenter``), the compare grid (``compare_presenter``) and the exports
(``export_actions``).

The first model listing or Analyse imports torch in a worker and takes seconds, so the panel says
"loading models...".
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.run import AnalysisRequest, AnalysisRun, lime_samples_note
from covidviewer.explain.progress import with_time_left
from covidviewer.ui.analysis.compare import CompareWindow
from covidviewer.ui.analysis.compare_presenter import ComparePresenter
from covidviewer.ui.analysis.export_actions import ExportActions
from covidviewer.ui.analysis.overlay_presenter import OverlayPresenter
from covidviewer.ui.analysis.panel import AnalysisPanel
from covidviewer.ui.analysis.worker_tasks import AnalysisTasks
from covidviewer.ui.tasks import Task

ACTION_IDS = ("analyse", "compare", "export_png", "export_json", "overlay")
LOADING_TEXT = "Loading models\u2026 (the first time takes a few seconds)"


class AnalysisController(QObject):
    """Owns the Analysis dock and wires it to its parts.

    Signals: ``modelsListed(list[ModelChoice])``, ``runShown(AnalysisRun)`` after a run is displayed,
    ``runEnded()`` when an analysis task stops for any reason (done, cancelled, failed).
    predictor_factory(device, store, cache) -> Predictor lets tests and tools supply their own
    (``worker_tasks.predictors.factory`` afterwards).
    auto_list_models: list the models for every shown image in the background (the first listing
    imports torch); False (screenshot runs) waits for the first Analyse.
    """

    modelsListed = Signal(object)
    runShown = Signal(object)
    runEnded = Signal()

    def __init__(self, window, viewer_controller=None, auto_list_models: bool = True, predictor_factory=None):
        super().__init__(window)
        self.window = window
        self.state = window.state
        self.viewer_controller = viewer_controller
        self.auto_list_models = auto_list_models
        self.worker_tasks = AnalysisTasks(predictor_factory, self)
        self.panel = AnalysisPanel(window.state)
        self.dock = window.add_dock(self.panel, "Analysis", area="right", object_name="dock_analysis")
        self.dock.raise_()
        self.run: AnalysisRun | None = None
        self.run_volume = None
        self.current_key: MapKey | None = None
        self.overlay_presenter = OverlayPresenter(window, self.panel)
        self.compare_presenter = ComparePresenter(window, self.panel.overlay.settings, lambda: self.export_grid(),
                                                  lambda pane: self.exports.pane_png(pane))
        self.panel.results.slice_number = lambda index: self.panel.strip.axial_number(index)
        self.panel.results.hangAsRead.connect(self.show_as_read)
        self.errors: list[str] = []
        self.exports = ExportActions(self)
        self._task: Task | None = None
        self._list_task: Task | None = None
        self._list_again = False
        self._models_listed_once = False
        self._started_at = 0.0
        #: seconds, monotonic: the time-left estimate's clock (tests inject their own)
        self.clock = time.monotonic
        self._connect()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _connect(self) -> None:
        actions = self.window.actions
        handlers = {"analyse": self.analyse, "compare": self.open_compare, "export_png": self.export_png,
                    "export_json": self.export_json, "overlay": self.panel.overlay.toggle_visible}
        for action_id in ACTION_IDS:
            action = actions.get(action_id)
            if action is not None:
                action.triggered.connect(lambda _checked=False, fn=handlers[action_id]: fn())
        panel = self.panel
        panel.analyse_button.clicked.connect(self.analyse)
        panel.cancel_button.clicked.connect(self.cancel)
        panel.compare_button.clicked.connect(self.open_compare)
        panel.export_png_button.clicked.connect(lambda: self.export_png())
        panel.export_json_button.clicked.connect(lambda: self.export_json())
        panel.device_combo.currentTextChanged.connect(lambda _d: self.list_models())
        panel.overlay.mapChosen.connect(self.show_map)
        panel.overlay.changed.connect(lambda s: self.state.update_overlay(**s.as_kwargs()))
        self.state.events.volume.connect(self._on_volume)
        self._update_actions()

    # ------------------------------------------------------------------ model list
    def list_models(self) -> None:
        """List the models for the shown image in a worker (gate + weights check)."""
        volume = self.state.volume
        if volume is None:
            self.panel.models.set_loading("Open an image to list the models.")
            return
        if self._list_task is not None:
            self._list_again = True
            self.panel.models.set_loading("Checking the models\u2026")
            return
        self.panel.models.set_loading(LOADING_TEXT if not self._models_listed_once else "Checking the models\u2026")
        task = self.worker_tasks.catalogue_task(volume, self.panel.device_combo.currentText(), self._axial_slice())
        task.partial.connect(self._on_listed)
        task.failed.connect(lambda err, tb: self.report_error(f"Could not list the models: {type(err).__name__}: {err}", tb))
        task.finished.connect(self._on_list_finished)
        self._list_task = task
        task.start()

    def _on_listed(self, payload) -> None:
        volume, choices = payload
        self._models_listed_once = True
        if volume is self.state.volume:
            self.panel.models.set_choices(choices)
            self.modelsListed.emit(choices)

    def _on_list_finished(self) -> None:
        self._list_task = None
        if self._list_again:
            self._list_again = False
            self.list_models()

    # ------------------------------------------------------------------ analyse
    @property
    def running(self) -> bool:
        """True while an analysis task runs."""
        return self._task is not None

    def analyse(self) -> bool:
        """Run the ticked models x methods on the shown image in a worker; False if nothing started."""
        volume = self.state.volume
        if volume is None:
            self.window.show_message("Open an image before pressing Analyse", "warning")
            return False
        if self._task is not None:
            return False
        picked = self.panel.models.selected() or self.panel.models.applicable()
        methods = self.panel.methods.selected() or ["none"]
        request = AnalysisRequest(
            models=tuple(picked), methods=tuple(methods), device=self.panel.device_combo.currentText(),
            slice_index=self._axial_slice(), lime_samples=self.panel.lime_samples.value(),
            lime_early_stop=self.panel.lime_early_stop.isChecked(), lime_lungs=self.panel.lime_lungs.isChecked(),
            source=self._source(volume), whole_series=_is_ct_series(volume) and self.panel.whole_series.isChecked(),
            date_check=self.panel.date_check.isChecked(),
        )
        task = self.worker_tasks.analysis_task(volume, request)
        # "LIME · dpn92_se: 300/1000 samples, ~12 s left": the estimate is made here, on the GUI thread
        task.progress.connect(with_time_left(self.panel.show_progress, lambda: self.clock()))
        task.succeeded.connect(self._on_run)
        task.failed.connect(lambda err, tb: self.report_error(f"Analysis failed: {type(err).__name__}: {err}", tb))
        task.cancelled.connect(self._on_cancelled)
        task.finished.connect(self._on_run_finished)
        self._task = task
        self._started_at = time.monotonic()
        self.dock.show()
        self.dock.raise_()
        self.panel.set_running(True, LOADING_TEXT if not self.worker_tasks.predictors.started else "Starting\u2026")
        self._update_actions()
        task.start()
        return True

    def cancel(self) -> None:
        """Ask the running analysis to stop at its next step or batch."""
        if self._task is not None:
            self._task.cancel()
            self.panel.set_status("Cancelling\u2026 (stops after the current step)", "warning")

    def _on_run(self, payload) -> None:
        volume, run = payload
        if volume is not self.state.volume:
            self.panel.set_status("Discarded: the image changed during the analysis", "warning")
            return  # this run belongs to the previous image
        self.run, self.run_volume = run, volume
        self.compare_presenter.history.add(run, volume)
        self.panel.results.show_run(run)
        self.panel.show_series(run.series)
        maps = run.maps()
        keys = list(maps)
        current = self.current_key if self.current_key in maps else (keys[0] if keys else None)
        self.panel.overlay.set_maps([(k, k.label()) for k in keys], current)  # emits mapChosen -> show_map
        self.panel.set_have_maps(bool(keys), bool(run.results))
        seconds = time.monotonic() - self._started_at
        level = "info" if run.status == "ok" else "warning"
        text = f"Done in {seconds:.1f} s" if run.status == "ok" else run.reason
        note = lime_samples_note(run)
        text = f"{text} \u00b7 {note}" if note and run.status == "ok" else text
        self.panel.set_status(text if run.status == "ok" else "Finished: no model answered (see Results)", level)
        self.window.show_message(f"Analysis: {text}", level)
        for warning in run.warnings:
            self.window.show_message(warning, "warning")
        self.panel.ensureWidgetVisible(self.panel.results_group, 0, 0)
        self.compare_presenter.refresh()
        self._update_actions()
        self.runShown.emit(run)

    def _on_cancelled(self) -> None:
        self.panel.set_status("Analysis cancelled", "warning")
        self.window.show_message("Analysis cancelled", "warning")

    def _on_run_finished(self) -> None:
        self._task = None
        self.panel.set_running(False, self.panel.status.text())
        self._update_actions()
        self.runEnded.emit()

    # ------------------------------------------------------------------ overlay and compare
    def show_map(self, key: MapKey | None) -> None:
        """Draw ``key``'s map over the main view (None removes it) and show its slice strip."""
        self.current_key = key
        self.overlay_presenter.show(self.run, self.run_volume, key)

    def open_compare(self) -> CompareWindow | None:
        """Open (or refresh) the compare grid of every map of every run of the shown image."""
        return self.compare_presenter.open()

    # ------------------------------------------------------------------ export (covidviewer.ui.analysis.export_actions)
    def export_png(self, path: str | Path | None = None):
        """PNG of the main view's slice with the shown map, captioned; asks for a path when None.
        Returns the writing Task (``exports.exported(Path)`` when done) or None."""
        return self.exports.view_png(path)

    def export_grid(self, path: str | Path | None = None):
        """PNG of the compare grid with captions, colour scale and agreement numbers."""
        return self.exports.grid_png(path)

    def export_json(self, path: str | Path | None = None):
        """JSON of every prediction of the last run (the ``predict`` command's schema)."""
        return self.exports.predictions_json(path)

    # ------------------------------------------------------------------ image changes, helpers
    def show_as_read(self, hanging) -> None:  # type: ignore[no-untyped-def]
        """Turn, mirror and invert the display (and stretch the window of a dim film) so that the reader sees the film
        as the models read it; the film itself is not changed, and View > Reset undoes it."""
        volume = self.state.volume
        if volume is None:
            return
        self.state.set_display(hanging.display())
        if hanging.stretched:
            from covidviewer.inference.film_hanging import stretched_window

            self.state.window = stretched_window(volume)

    def _on_volume(self, volume) -> None:
        if self._task is not None:
            self._task.cancel()  # its result would belong to the previous image
        self.run, self.run_volume, self.current_key = None, None, None
        self.panel.results.clear("Press Analyse to run the models on the shown image.")
        self.panel.set_status("")  # "Done in 4.0 s" belonged to the previous image
        self.panel.show_series([])
        self.panel.offer_whole_series(volume is not None and _is_ct_series(volume))
        self.panel.overlay.set_maps([])
        self.panel.set_have_maps(False, False)
        self.compare_presenter.clear()
        if volume is not None and (self.auto_list_models or self._models_listed_once):
            self.list_models()  # in the background: the first listing imports torch (seconds)
        elif volume is not None:
            self.panel.models.set_loading("Press Analyse to check and run the models on this image.")
        self._update_actions()

    def _update_actions(self) -> None:
        actions = self.window.actions
        have_maps = self.run is not None and bool(self.run.maps())
        enabled = {"analyse": self.state.volume is not None and self._task is None, "compare": bool(self.compare_presenter.history),
                   "export_png": have_maps, "export_json": self.run is not None, "overlay": have_maps}
        for action_id, on in enabled.items():
            if action_id in actions:
                actions[action_id].setEnabled(on)

    def _axial_slice(self) -> int | None:
        state = self.state
        if state.volume is None or state.volume.is_2d or state.plane != "axial":
            return None
        return state.slice_index

    def _source(self, volume) -> str:
        sources = list(volume.sources)
        if len(sources) == 1:
            return str(sources[0])
        if sources:
            return str(Path(sources[0]).parent)
        series = getattr(self.viewer_controller, "current_series", None)
        return getattr(series, "label", "") if series is not None else ""

    def report_error(self, message: str, trace: str = "") -> None:
        """Show an error in the panel, the status bar and the Messages log (with ``trace`` if any)."""
        self.errors.append(message)
        self.panel.set_status(message, "error")
        self.window.show_message(message, "error")
        if trace:
            self.window.messages.add_message(trace, "error")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel the analysis and wait for the workers (the model list cannot be interrupted)."""
        for task in (self._task, self._list_task):
            if task is not None:
                task.cancel()
                task.wait(timeout_s)
        self.exports.wait(timeout_s)
        self.compare_presenter.close(timeout_s)


def _is_ct_series(volume) -> bool:
    """A CT of several slices: where a CT-slice model can answer for the whole series."""
    return not volume.is_2d and not volume.is_rgb and volume.modality == "CT"

