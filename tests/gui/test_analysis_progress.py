"""The Analysis dock says how long LIME has left and how many samples it used; its worker runs at a
lower CPU priority than the GUI thread.

The controller's clock is injected (each reading 2 s later than the one before), so the estimate
appears after the first batches however fast this machine is; the models are the hand-set test
networks of tests/gui/analysis_support.py.
"""
from __future__ import annotations

import os
import re
import sys
import threading

import pytest
from analysis_support import (  # noqa: F401 (app_window, square_models: fixtures)
    analyse_and_wait,
    app_window,
    radiograph_volume,
    show,
    square_models,
    tick,
)

from covidviewer.ui.tasks import lower_thread_priority

pytestmark = pytest.mark.gui


class SteppingClock:
    """Each reading is ``step_s`` later than the one before."""

    def __init__(self, step_s: float = 2.0) -> None:
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def _run_lime(qtbot, window, analysis, samples: int, early_stop: bool) -> list[str]:
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "tiny_cxr")
    analysis.panel.methods.set_selected(["lime"])
    analysis.panel.lime_samples.setValue(samples)
    analysis.panel.lime_early_stop.setChecked(early_stop)
    analysis.clock = SteppingClock()
    shown: list[str] = []
    show_progress = analysis.panel.show_progress
    analysis.panel.show_progress = lambda d, t, m: (shown.append(m), show_progress(d, t, m))
    analyse_and_wait(qtbot, analysis)
    assert analysis.errors == []
    return shown


def test_lime_progress_shows_samples_and_time_left(qtbot, app_window, square_models):
    window, analysis = app_window
    shown = _run_lime(qtbot, window, analysis, samples=300, early_stop=True)
    with_eta = [m for m in shown if re.fullmatch(r"LIME \u00b7 tiny_cxr: \d+/300 samples, may stop sooner "
                                                  r"\(top 5 steady for \d+\), ~\d+ (s|min) left", m)]
    assert with_eta, shown
    assert "s left" not in shown[0]  # no estimate before anything was measured
    status = analysis.panel.status.text()
    assert re.fullmatch(r"Done in \d+\.\d s \u00b7 LIME samples used: tiny_cxr \d+( of at most 300)?", status), status


def test_without_the_early_stop_every_sample_is_used(qtbot, app_window, square_models):
    window, analysis = app_window
    shown = _run_lime(qtbot, window, analysis, samples=100, early_stop=False)
    assert any(re.fullmatch(r"LIME \u00b7 tiny_cxr: 64/100 samples, ~\d+ s left", m) for m in shown), shown
    assert analysis.panel.status.text().endswith("LIME samples used: tiny_cxr 100")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_worker_thread_is_lowered_and_the_gui_thread_is_not():
    seen: dict[str, int] = {}

    def worker() -> None:
        seen["set"] = lower_thread_priority(10)
        seen["worker"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"set": True, "worker": max(10, before)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
