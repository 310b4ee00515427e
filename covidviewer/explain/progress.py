"""Time left from ``progress(done, total, message)`` updates: one estimator for the viewer's status
line and the command line, Qt-free and torch-free.

``TimeLeft`` watches the fraction done and estimates the seconds left from the recent rate (a sliding
window, so a slow start such as loading a model does not make the estimate pessimistic for the rest
of the job). It stays quiet until the job has run for ``min_elapsed_s`` (a job that ends within a
second needs no estimate) and starts over when the fraction goes backwards (a new job).

    clock = TimeLeft()
    seconds = clock.update(done, total)        # None while unknown
    text = format_time_left(seconds)           # "~12 s left", "~3 min left", ""

``with_time_left(progress)`` wraps a ProgressFn so that its message carries the estimate, which is
how the viewer shows "LIME · dpn92_se: 300/1000 samples, ~12 s left"; ``tqdm_progress(bar)`` feeds a
tqdm bar (tqdm computes its own rate and ETA from ``n`` / ``total``).
"""
from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from covidviewer.io.cancel import ProgressFn

Clock = Callable[[], float]


class TimeLeft:
    """Estimates the seconds left of a job from its fraction done.

    clock: seconds, monotonic (inject a fake one in tests). window_s: the rate is measured over the
    updates of the last ``window_s`` seconds (at least the first and the latest update when the job
    is younger). min_elapsed_s: no estimate before the job has run that long.
    """

    def __init__(self, clock: Clock = time.monotonic, window_s: float = 20.0, min_elapsed_s: float = 1.0) -> None:
        self.clock = clock
        self.window_s = window_s
        self.min_elapsed_s = min_elapsed_s
        self._points: deque[tuple[float, float]] = deque()
        self._started: float | None = None

    def reset(self) -> None:
        """Forget the job (the next update starts a new one)."""
        self._points.clear()
        self._started = None

    @property
    def elapsed_s(self) -> float:
        """Seconds since the job's first update (0 before it)."""
        return 0.0 if self._started is None else self.clock() - self._started

    def update(self, done: float, total: float) -> float | None:
        """Record ``done`` of ``total`` now; the seconds left, or None while there is no honest estimate
        (no progress yet, too early, or an unknown total)."""
        now = self.clock()
        if total <= 0:
            return None
        fraction = min(max(done / total, 0.0), 1.0)
        if self._points and fraction < self._points[-1][1]:
            self.reset()  # the bar went back: a new job
        if self._started is None:
            self._started = now
        self._points.append((now, fraction))
        while len(self._points) > 2 and now - self._points[1][0] >= self.window_s:
            self._points.popleft()
        if fraction >= 1.0:
            return 0.0
        first_t, first_f = self._points[0]
        if now - self._started < self.min_elapsed_s or fraction <= first_f or now <= first_t:
            return None
        rate = (fraction - first_f) / (now - first_t)
        return (1.0 - fraction) / rate


def format_time_left(seconds: float | None) -> str:
    """"~12 s left", "~3 min left", "~1 h 5 min left"; "" for None (no estimate yet)."""
    if seconds is None:
        return ""
    if seconds < 1.0:
        return "<1 s left"
    if seconds < 60:
        return f"~{int(round(seconds))} s left"
    if seconds < 3600:
        return f"~{int(round(seconds / 60))} min left"
    hours, minutes = divmod(int(round(seconds / 60)), 60)
    return f"~{hours} h {minutes} min left"


def with_time_left(progress: "ProgressFn", clock: Clock = time.monotonic) -> "ProgressFn":
    """``progress`` whose message ends with ", ~N s left" once an estimate exists."""
    estimator = TimeLeft(clock)

    def step(done: int, total: int, message: str) -> None:
        left = format_time_left(estimator.update(done, total)) if done < total else ""
        progress(done, total, f"{message}, {left}" if left and message else left or message)

    return step


def tqdm_progress(bar: Any) -> "ProgressFn":
    """A ProgressFn that drives a ``tqdm`` bar: total and position from (done, total), the message as
    its description (tqdm shows its own rate and time left)."""

    def step(done: int, total: int, message: str) -> None:
        if total > 0 and bar.total != total:
            bar.total = total
        bar.n = done
        if message:
            bar.set_description_str(message, refresh=False)
        bar.refresh()

    return step
