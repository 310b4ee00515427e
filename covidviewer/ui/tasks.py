"""Background tasks: run a function in the thread pool and report back through Qt signals.

The long calls below (``scan_folder``, ``load_series``, ``Predictor.analyse``) take ``progress`` and
``cancelled`` callbacks (``covidviewer.io.cancel``) rather than being generators, so a task hands the
function a ``TaskContext`` offering exactly those, plus ``partial`` for results that arrive one by one
(thumbnails). A function stops early by raising ``Cancelled``; the task then emits ``cancelled``. Signals are
emitted from the worker thread on a QObject owned by the GUI thread, so Qt queues them and every
slot runs on the GUI thread: the UI never blocks on IO.
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from covidviewer.io.cancel import Cancelled, CancelToken, raise_if_cancelled


class TaskContext:
    """What a task function may call: progress, cancellation check, partial results."""

    def __init__(self, task: "Task") -> None:
        self._task = task

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._task.progress.emit(int(done), int(total), str(message))

    def cancelled(self) -> bool:
        return self._task.is_cancelled

    def check(self) -> None:
        """Raise ``Cancelled`` when cancel was requested."""
        raise_if_cancelled(self.cancelled)

    def partial(self, value: Any) -> None:
        self._task.partial.emit(value)


class Task(QObject):
    """One background job. Connect to its signals, then ``start()``.

    Signals: progress(done, total, message), partial(value), succeeded(result),
    failed(exception, traceback text), cancelled(), finished() (always last).
    """

    progress = Signal(int, int, str)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, name: str, function: Callable[[TaskContext], Any], parent: QObject | None = None):
        super().__init__(parent)
        self.name = name
        self._function = function
        self._cancel = CancelToken()
        self._done = threading.Event()
        self.running = False

    @property
    def is_cancelled(self) -> bool:
        return self._cancel()

    def cancel(self) -> None:
        """Ask the function to stop at its next cancellation check."""
        self._cancel.cancel()

    def start(self, pool: QThreadPool | None = None) -> None:
        self.running = True
        self.finished.connect(self._mark_stopped)
        (pool or QThreadPool.globalInstance()).start(_Runner(self))

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the function returned (tests and shutdown only, never in GUI code paths)."""
        return self._done.wait(timeout_s)

    def _mark_stopped(self) -> None:
        self.running = False

    def _run(self) -> None:
        context = TaskContext(self)
        try:
            result = self._function(context)
        except Cancelled:
            self.cancelled.emit()
        except Exception as err:  # reported to the UI, never swallowed
            self.failed.emit(err, traceback.format_exc())
        else:
            if self.is_cancelled:
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self._done.set()
            self.finished.emit()


def lower_thread_priority(nice: int = 10) -> bool:
    """Give the calling worker thread (and the compute threads it starts afterwards, e.g. torch's
    OpenMP team, which inherit it) a lower CPU priority than the GUI thread, so a key press is
    answered at once while a long analysis keeps every core busy. Linux only (elsewhere the nice
    value is per process); a thread can only be lowered, so pool threads stay lowered. True when set."""
    if not sys.platform.startswith("linux") or nice <= 0:
        return False
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        return False
    return True


class _Runner(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task
        self.setAutoDelete(True)

    def run(self) -> None:
        self._task._run()
