"""AnalysisController: wires the Analysis dock, the Analyse / Compare / Export actions and the main
view's overlay to covidviewer.inference, running every model in a worker (covidviewer.ui.tasks).

The GUI thread never imports torch: listing the models (which imports the registry) and running
them happen in tasks; the first one takes seconds, so the panel says "loading models...". One
``Predictor`` per device choice shares one model store and one result cache, so re-analysing an
image with the same weights and method is instant.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from covidviewer.explain.progress import with_time_left
from covidviewer.ui.analysis.compare import CompareWindow
from covidviewer.ui.analysis.exporter import AnalysisExporter
from covidviewer.ui.analysis.panel import AnalysisPanel
from covidviewer.ui.analysis.region_outline import RegionOutline, map_note_text
from covidviewer.ui.analysis.run_history import RunHistory
from covidviewer.ui.analysis.session import (
    AnalysisRequest,
    AnalysisRun,
    MapKey,
    build_catalogue,
    lime_samples_note,
    run_analysis,
)
from covidviewer.ui.tasks import Task, TaskContext, lower_thread_priority

ACTION_IDS = ("analyse", "compare", "export_png", "export_json", "overlay")
LOADING_TEXT = "Loading models\u2026 (the first time takes a few seconds)"


def default_predictor_factory(device: str, store, cache):
    """A covidviewer.inference Predictor on ``device`` sharing ``store`` and ``cache``."""
    from covidviewer.inference import Predictor

    return Predictor(device=device, store=store, cache=cache)


def _warm_colour_tables() -> None:
    """Build every colormap LUT in the worker (the first one imports matplotlib, which is slow)."""
    from covidviewer.imaging import COLORMAPS, colormap_lut

    for name in COLORMAPS:
        colormap_lut(name)


class AnalysisController(QObject):
    """Owns the Analysis dock and its workers.

    Signals: ``modelsListed(list[ModelChoice])``, ``runShown(AnalysisRun)`` after a run is displayed,
    ``runEnded()`` when an analysis task stops for any reason (done, cancelled, failed).
    predictor_factory(device, store, cache) -> Predictor lets tests and tools supply their own.
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
        self.predictor_factory = predictor_factory or default_predictor_factory
        self.panel = AnalysisPanel(window.state)
        self.dock = window.add_dock(self.panel, "Analysis", area="right", object_name="dock_analysis")
        self.dock.raise_()
        self.run: AnalysisRun | None = None
        self.run_volume = None
        self.current_key: MapKey | None = None
        self.compare_window: CompareWindow | None = None
        self.history = RunHistory()  # every run of the shown image: the compare grid shows them all
        self.outline = RegionOutline(window.viewer)  # what a cropping model saw, outlined over its map
        self.panel.results.slice_number = lambda index: self.panel.strip.axial_number(index)
        self.errors: list[str] = []
        self.exports = AnalysisExporter(self)
        self._predictors: dict[str, object] = {}
        self._store = self._cache = None
        self._lock = threading.Lock()
        self._import_lock = threading.Lock()
        self._task: Task | None = None
        self._list_task: Task | None = None
        self._list_again = False
        self._models_listed_once = False
        self._started_at = 0.0
        #: seconds, monotonic: the time-left estimate's clock (tests inject their own)
        self.clock = time.monotonic
        #: nice value of the analysis worker (Linux): the GUI thread keeps answering keys while LIME uses
        #: every core; torch_threads: torch's thread count in the worker (None: torch's default); both
        #: measured in bench/bench_analysis_ui.py
        self.worker_nice = 10
        self.torch_threads: int | None = None
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

    # ------------------------------------------------------------------ predictors (worker side)
    def predictor(self, device: str):
        """The Predictor for ``device`` (created on first use; imports torch: call from a worker)."""
        with self._lock:
            if device not in self._predictors:
                if self._store is None:
                    from covidviewer.inference import ModelStore, ResultCache

                    self._store, self._cache = ModelStore(), ResultCache()
                self._predictors[device] = self.predictor_factory(device, self._store, self._cache)
            return self._predictors[device]

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
        device, slice_index = self.panel.device_combo.currentText(), self._axial_slice()

        def work(ctx: TaskContext):
            lower_thread_priority(self.worker_nice)  # its torch threads may serve the next analysis too
            # An Analyse started meanwhile waits for this lock: two threads importing the same heavy
            # packages for the first time can deadlock on Python's import locks.
            with self._import_lock:
                ctx.partial((volume, build_catalogue(self.predictor(device), volume, slice_index)))
                _warm_colour_tables()
                from covidviewer.explain import preload

                preload()  # grad-cam / lime imports take seconds: pay them now, not in the first Analyse

        task = Task("list models", work, self)
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

        def work(ctx: TaskContext):
            lower_thread_priority(self.worker_nice)
            with self._import_lock:  # waits for a model listing that is still importing
                predictor = self.predictor(request.device)
            if self.torch_threads:
                import torch

                torch.set_num_threads(self.torch_threads)
            ctx.check()
            models = request.models or _default_models(build_catalogue(predictor, volume, request.slice_index))
            run = run_analysis(predictor, volume, _with_models(request, models), ctx.progress, ctx.cancelled)
            _warm_colour_tables()
            return volume, run

        task = Task("analysis", work, self)
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
        self.panel.set_running(True, LOADING_TEXT if not self._predictors else "Starting\u2026")
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
        self.history.add(run, volume)
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
        if self.compare_window is not None and self.compare_window.isVisible():
            self.compare_window.show_history(self.history, volume, self.state)
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

    # ------------------------------------------------------------------ overlay
    def show_map(self, key: MapKey | None) -> None:
        """Draw ``key``'s map over the main view (None removes it) and show its slice strip."""
        self.current_key = key
        panel = self.panel
        result = None if key is None or self.run is None else self.run.maps().get(key)
        if result is None or self.run_volume is not self.state.volume:
            self.window.viewer.set_overlay(None)
            self.outline.set_region(None)
            panel.strip.show_importance(None, None)
            panel.map_note.hide()
            return
        data = self.run.overlay(key, self.state.volume.shape)
        self.window.viewer.set_overlay(data, **panel.overlay.settings.as_kwargs())
        owner = self.run.results.get((key.model, key.method))
        importance = result.slice_importance if result.slice_importance is not None else getattr(owner, "slice_importance", None)
        peak = result.peak_slice if result.peak_slice is not None else getattr(owner, "peak_slice", None)
        panel.strip.show_importance(importance, peak, f"Slice importance \u2014 {key.model} depth attention")
        explanation = result.explanation
        whole = explanation is None or explanation.covers_whole_image()
        self.outline.set_region(None if whole else explanation.analysed_box, result.slice_index,
                                "" if whole else explanation.analysed_region)
        note = map_note_text(key.model, result, self.state)
        panel.map_note.setText(note)
        panel.map_note.setVisible(bool(note))
        if result.slice_index is not None and self.state.n_slices > 1:
            panel.strip.go_to(result.slice_index)

    # ------------------------------------------------------------------ compare
    def open_compare(self) -> CompareWindow | None:
        """Open (or refresh) the compare grid of every map of every run of the shown image."""
        if not self.history or self.history.volume is not self.state.volume:
            self.window.show_message("Analyse the image with at least one map before comparing", "warning")
            return None
        if self.compare_window is None:
            self.compare_window = CompareWindow(self.panel.overlay.settings, self.window)
            self.compare_window.export_button.clicked.connect(lambda: self.export_grid())
            self.compare_window.export_pane_button.clicked.connect(
                lambda: self.exports.pane_png(self.compare_window.chosen_pane()) if self.compare_window.chosen_pane() else None)
        self.compare_window.show_history(self.history, self.history.volume, self.state)
        self.compare_window.show()
        self.compare_window.raise_()
        return self.compare_window

    # ------------------------------------------------------------------ export (covidviewer.ui.analysis.exporter)
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
    def _on_volume(self, volume) -> None:
        if self._task is not None:
            self._task.cancel()  # its result would belong to the previous image
        self.run, self.run_volume, self.current_key = None, None, None
        self.history.clear()
        self.panel.results.clear("Press Analyse to run the models on the shown image.")
        self.panel.set_status("")  # "Done in 4.0 s" belonged to the previous image
        self.panel.show_series([])
        self.panel.offer_whole_series(volume is not None and _is_ct_series(volume))
        self.panel.overlay.set_maps([])
        self.panel.set_have_maps(False, False)
        if self.compare_window is not None:
            self.compare_window.clear()
            self.compare_window.hide()
        if volume is not None and (self.auto_list_models or self._models_listed_once):
            self.list_models()  # in the background: the first listing imports torch (seconds)
        elif volume is not None:
            self.panel.models.set_loading("Press Analyse to check and run the models on this image.")
        self._update_actions()

    def _update_actions(self) -> None:
        actions = self.window.actions
        have_maps = self.run is not None and bool(self.run.maps())
        enabled = {"analyse": self.state.volume is not None and self._task is None, "compare": bool(self.history),
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
        if self.compare_window is not None:
            self.compare_window.close()  # cancels its agreement worker between sorts
            self.compare_window.wait_agreement(timeout_s)


def _is_ct_series(volume) -> bool:
    """A CT of several slices: where a CT-slice model can answer for the whole series."""
    return not volume.is_2d and not volume.is_rgb and volume.modality == "CT"


def _default_models(choices) -> tuple[str, ...]:
    """With nothing ticked: every runnable applicable model, else every applicable one (to say why not)."""
    runnable = tuple(c.name for c in choices if c.runnable)
    return runnable or tuple(c.name for c in choices if c.applicable)


def _with_models(request: AnalysisRequest, models: tuple[str, ...]) -> AnalysisRequest:
    from dataclasses import replace

    return replace(request, models=tuple(models))
