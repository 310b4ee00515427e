"""ViewerController: opens paths, runs scans/loads/thumbnails in workers, reports errors.

It wires the io layer to a ``MainWindow``: the GUI thread only starts tasks and applies their
results, so a slow disk or a huge series never freezes the window. Every failure ends up in the
Messages panel and the status bar; other studies keep loading.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

# Only the light modules at import time: the readers (pydicom, SimpleITK, OpenCV) are imported
# inside the worker functions, so the window shows before they load.
from covidviewer.io.errors import LoadError
from covidviewer.io.files import OPEN_PATTERNS
from covidviewer.io.study import KIND_DICOM, SeriesInfo
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.study_browser import THUMBNAIL_SIZE
from covidviewer.ui.tasks import Task, TaskContext

# Order in which built-in samples are listed; the first is shown on opening.
SAMPLE_ORDER = ("chest_cr", "ct", "ct_multiframe")
FILE_FILTER = f"Images ({OPEN_PATTERNS});;All files (*)"


class ViewerController(QObject):
    """Connects a MainWindow's File actions and study browser to the io layer.

    Signals: ``volumeShown(Volume)`` after a series is displayed; ``idle()`` when the last running
    task has finished (the screenshot mode waits for it).
    Attributes: ``errors`` (every error message shown), ``current_series`` (the displayed SeriesInfo).
    """

    volumeShown = Signal(object)
    idle = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.state = window.state
        self.errors: list[str] = []
        self.current_series: SeriesInfo | None = None
        self._tasks: set[Task] = set()
        self._load_task: Task | None = None
        self._loading_key: str | None = None
        # Series still to try when the one opened on its own fails to load (a reader expects the
        # first readable image, not an empty view because the first listed file is corrupt).
        self._fallbacks: list[SeriesInfo] = []
        actions = window.actions
        actions["open_folder"].triggered.connect(self.ask_open_folder)
        actions["open_file"].triggered.connect(self.ask_open_file)
        actions["open_sample"].triggered.connect(self.open_samples)
        window.recentRequested.connect(self.open_path)
        window.browser.seriesActivated.connect(self.load_series)
        window.status_bar.cancel_button.clicked.connect(self.cancel_all)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    # ------------------------------------------------------------------ opening
    def ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of studies", self.window.settings.last_dir())
        if folder:
            self.open_path(folder)

    def ask_open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open an image", self.window.settings.last_dir(), FILE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Scan ``path`` (file or folder) in a worker, list what it holds and show the first series.

        Returns False (after reporting) when the path does not exist; scan errors arrive later.
        """
        from covidviewer.io.files import path_problem

        path = Path(path).expanduser()
        problem = path_problem(path)  # a link loop or a broken link is named, not "no such file"
        if problem is not None:
            self._report_error(f"{path}: {problem}")
            return False
        self.window.set_recent(self.window.settings.add_recent(path) if self.window.persist_settings else [])
        self.window.show_message(f"Opening {path}")
        self._scan([path])
        return True

    def open_samples(self) -> bool:
        """List the built-in samples (pydicom-data chest CR first, pydicom CTs) and show the first.

        The samples are located in the worker (finding them imports pydicom); a missing
        pydicom-data package is reported like any load error.
        """
        self.window.show_message("Opening the built-in samples")
        self._scan(None)
        return True

    def _scan(self, paths: list[Path] | None) -> None:
        """Scan ``paths`` in a worker; None scans the built-in samples."""

        def scan_all(ctx: TaskContext):
            from covidviewer.io import scan_folder

            results = []
            for path in paths if paths is not None else _sample_paths_in_order():
                ctx.check()
                results.append(scan_folder(path, progress=lambda d, t, m: ctx.progress(d, t, f"Scanning {m}"), cancelled=ctx.cancelled))
            return results

        # A new open replaces the list (a scan is one worklist); the shown image stays until replaced.
        self.window.browser.clear_studies()
        task = Task("scan", scan_all, self)
        task.succeeded.connect(self._on_scanned)
        self._start(task, "Scanning")

    def _on_scanned(self, results) -> None:
        found: list[SeriesInfo] = []
        for result in results:
            for path, reason in result.unreadable:
                self._report_error(f"{path}: {reason}")
            if result.skipped:
                names = ", ".join(path.name for path, _why in result.skipped[:5])
                more = f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""
                self.window.show_message(f"Skipped {len(result.skipped)} non-image file(s): {names}{more}")
            for warning in result.warnings:
                self.window.show_message(warning, "warning")
            if result.cancelled:
                self.window.show_message(f"Scan of {result.root} cancelled; showing what was found", "warning")
            added = self.window.browser.add_scan(result)
            if not added and not result.unreadable:
                self._report_error(f"{result.root}: no loadable image or series found")
            found += added
        if found:
            self.window.show_message(f"Found {len(found)} series")
            self.load_series(found[0])
            self._fallbacks = found[1:]
            self._start_thumbnails(found)

    # ------------------------------------------------------------------ loading a series
    def load_series(self, series: SeriesInfo) -> None:
        """Load ``series`` in a worker (cancelling a load in progress) and show it when done."""
        if series.key == self._loading_key or (self.current_series is not None and series.key == self.current_series.key and self._load_task is None):
            return
        if self._load_task is not None:
            self._load_task.cancel()
        self._loading_key = series.key
        self._fallbacks = []  # a series asked for by name replaces the automatic choice

        def read(ctx: TaskContext):
            from covidviewer.io import dicom_tags, load_series

            volume = load_series(series, progress=lambda d, t, m: ctx.progress(d, t, "Loading"), cancelled=ctx.cancelled)
            tags, note = None, ""
            if series.kind == KIND_DICOM and series.files:
                try:
                    tags = dicom_tags(series.files[0])
                except LoadError as err:
                    note = f"tags unreadable: {err}"
            else:
                note = f"not DICOM ({series.kind}): no tags"
            return series, volume, tags, note

        task = Task("load", read, self)
        task.succeeded.connect(self._on_loaded)
        task.failed.connect(lambda _err, _tb: self._try_next_series(task))
        task.finished.connect(lambda: self._on_load_finished(task))
        self._load_task = task
        self._start(task, f"Loading {series.label}")

    def _on_loaded(self, payload) -> None:
        series, volume, tags, note = payload
        if series.key != self._loading_key:
            return  # a newer request superseded this one
        self.current_series = series
        self._fallbacks = []
        self.state.set_volume(volume)
        self.window.metadata.set_tags(tags, note)
        self.window.browser.select_series(series.key)
        for warning in volume.warnings:
            self.window.show_message(f"{series.label}: {warning}", "warning")
        self.window.show_message(f"Showing {series.label}")
        self.window.viewer.setFocus()
        self.volumeShown.emit(volume)

    def _try_next_series(self, failed: Task) -> None:
        """After the automatically opened series failed to load, open the next one listed.

        ``failed`` arrives before ``finished``, so the next load starts before the task set empties
        and ``idle`` is not announced in between."""
        if failed is not self._load_task or not self._fallbacks:
            return
        following, rest = self._fallbacks[0], self._fallbacks[1:]
        self.window.show_message(f"Opening {following.label} instead", "warning")
        self.load_series(following)
        self._fallbacks = rest

    def _on_load_finished(self, task: Task) -> None:
        if self._load_task is task:
            self._load_task = None
            self._loading_key = None

    # ------------------------------------------------------------------ thumbnails
    def _start_thumbnails(self, series_list: list[SeriesInfo]) -> None:
        def previews(ctx: TaskContext):
            from covidviewer.io import thumbnail

            for done, series in enumerate(series_list, start=1):
                ctx.check()
                try:
                    ctx.partial((series.key, thumbnail(series, size=THUMBNAIL_SIZE), ""))
                except LoadError as err:
                    ctx.partial((series.key, None, str(err)))
                ctx.progress(done, len(series_list), "Thumbnails")

        task = Task("thumbnails", previews, self)
        task.partial.connect(self._on_thumbnail)
        self._start(task, "Thumbnails")

    def _on_thumbnail(self, item) -> None:
        key, pixels, error = item
        if pixels is not None:
            self.window.browser.set_thumbnail(key, pixels)
        else:
            self.window.show_message(f"No thumbnail for {key}: {error}", "warning")

    # ------------------------------------------------------------------ task bookkeeping
    def _start(self, task: Task, busy_text: str) -> None:
        self._tasks.add(task)
        task.progress.connect(lambda d, t, m: self.window.status_bar.set_busy(m, d, t))
        task.failed.connect(lambda err, tb: self._on_failed(task, err, tb))
        task.cancelled.connect(lambda: self.window.show_message(f"{task.name} cancelled", "warning"))
        task.finished.connect(lambda: self._on_finished(task))
        self.window.status_bar.set_busy(busy_text)
        task.start()

    def _on_failed(self, task: Task, err: Exception, trace: str) -> None:
        if isinstance(err, LoadError):
            self._report_error(str(err))
        else:  # a bug, not bad input: keep the details in the log
            self._report_error(f"{task.name} failed: {type(err).__name__}: {err}")
            self.window.messages.add_message(trace, "error")

    def _on_finished(self, task: Task) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self.window.status_bar.set_idle()
            self.idle.emit()

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def wait_all(self, timeout_s: float = 30.0) -> None:
        """Block until every task has returned (shutdown and tests only)."""
        for task in list(self._tasks):
            task.wait(timeout_s)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancel running tasks and wait for them, so no worker outlives the application."""
        self.cancel_all()
        self.wait_all(timeout_s)

    def _report_error(self, message: str) -> None:
        self.errors.append(message)
        self.window.show_message(message, "error")


def _sample_paths_in_order() -> list[Path]:
    """Built-in sample files, chest radiograph first (raises LoadError when pydicom-data is absent)."""
    from covidviewer.io import sample_paths

    samples = sample_paths()
    ordered = [samples[k] for k in SAMPLE_ORDER if k in samples]
    return ordered + [p for k, p in samples.items() if k not in SAMPLE_ORDER]
