"""Background tasks speak covidviewer.io.cancel: a function that raises Cancelled (its own check, or a
reader's) ends in the task's ``cancelled`` signal, never in ``failed``."""
from __future__ import annotations

import pytest

from covidviewer.io.cancel import Cancelled
from covidviewer.ui.tasks import Task

pytestmark = pytest.mark.gui


def _outcome(qtbot, task: Task) -> list[str]:
    seen: list[str] = []
    task.succeeded.connect(lambda _result: seen.append("succeeded"))
    task.failed.connect(lambda err, _trace: seen.append(f"failed: {err}"))
    task.cancelled.connect(lambda: seen.append("cancelled"))
    with qtbot.waitSignal(task.finished, timeout=10_000):
        task.start()
    return seen


def test_a_cancelled_task_stops_at_its_next_check(qtbot) -> None:
    def work(ctx):
        task.cancel()  # as the Cancel button does, from another thread
        ctx.check()
        return "not reached"

    task = Task("checks", work)
    assert _outcome(qtbot, task) == ["cancelled"]


def test_cancelled_raised_by_a_reader_ends_in_the_cancelled_signal(qtbot) -> None:
    def read(ctx):
        raise Cancelled("loading cancelled")  # what load_series raises once ctx.cancelled() is true

    assert _outcome(qtbot, Task("load", read)) == ["cancelled"]


def test_any_other_exception_ends_in_failed(qtbot) -> None:
    def broken(ctx):
        raise OSError("simulated")

    assert _outcome(qtbot, Task("broken", broken)) == ["failed: simulated"]

