"""Does the window stay responsive while Analyse runs? Event-loop latency of the viewer (offscreen)
during a Grad-CAM and a LIME analysis on the built-in chest radiograph, against the same window idle.
The analysis worker's set-up is ``--worker-nice`` (the viewer's default: 10) and ``--torch-threads``
(0: torch's default); compare set-ups in separate runs (a thread's nice value is inherited by the
compute threads it starts, once).

A 10 ms QTimer records the gap between its ticks; a gap is how long the GUI thread could not
react (a frozen window shows as a gap of seconds). Measured in the same run: idle, during
Grad-CAM, during LIME; each printed as median / 95th percentile / max and the max as a ratio of
the idle max and of a 100 ms "feels instant" budget.

The network is the registered ``--model`` architecture with freshly initialised weights saved to
a temporary folder: UNTRAINED, used for timing only; its answers mean nothing.

    QT_QPA_PLATFORM=offscreen python bench/bench_analysis_ui.py [--model dpn92_se] [--lime-samples 200]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TICK_MS = 10
BUDGET_MS = 100.0


class TickRecorder:
    """Records the gaps between the ticks of a fast timer while a condition holds."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self.gaps.append((now - self._last) * 1000.0)
        self._last = now

    def record(self, app, until, timeout_s: float = 900.0) -> list[float]:
        self.gaps, self._last = [], 0.0
        self.timer.start()
        end = time.monotonic() + timeout_s
        while not until() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)
        self.timer.stop()
        return list(self.gaps)


def summary(gaps: list[float]) -> tuple[float, float, float]:
    ordered = sorted(gaps) or [0.0]
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))], ordered[-1]


def install_untrained(name: str, root: Path) -> None:
    """Save freshly initialised weights of a registered model into ``root`` (timing only)."""
    from covidviewer.models import create_model, get_spec
    from covidviewer.models.weights import WEIGHTS_ENV, save_weights

    os.environ[WEIGHTS_ENV] = str(root)
    spec = get_spec(name)
    save_weights(create_model(name), spec, root / spec.weights, training={"note": "UNTRAINED: bench timing only"}, metrics={})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dpn92_se", help="a registered stand-alone radiograph classifier without a lung mask")
    parser.add_argument("--lime-samples", type=int, default=200)
    parser.add_argument("--idle-s", type=float, default=3.0)
    parser.add_argument("--worker-nice", type=int, default=10)
    parser.add_argument("--torch-threads", type=int, default=0)
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    settings_dir = tempfile.mkdtemp(prefix="covidviewer-bench-settings-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="covidviewer-bench-weights-") as weights:
        install_untrained(args.model, Path(weights))
        from covidviewer.io import load_path, sample_paths
        from covidviewer.ui.analysis import install_analysis
        from covidviewer.ui.main_window import MainWindow

        window = MainWindow()
        window.persist_settings = False
        window.resize(1400, 900)
        window.show()
        analysis = install_analysis(window)
        analysis.worker_tasks.worker_nice = args.worker_nice
        analysis.worker_tasks.torch_threads = args.torch_threads or None
        listed: list[object] = []
        analysis.modelsListed.connect(listed.append)
        window.state.set_volume(load_path(sample_paths()["chest_cr"]))
        recorder = TickRecorder()
        recorder.record(app, lambda: bool(listed) and analysis._list_task is None)  # models listed, libraries loaded
        for name, box in analysis.panel.models.boxes.items():
            box.setChecked(name == args.model)
        if analysis.panel.models.selected() != [args.model]:
            print(f"{args.model} is not a runnable radiograph classifier here (cascade parts and models needing "
                  "the lung U-Net are not); try dpn92_se", file=sys.stderr)
            return 2
        analysis.panel.lime_samples.setValue(args.lime_samples)

        rows = []
        start = time.monotonic()
        rows.append(("idle", recorder.record(app, lambda: time.monotonic() - start > args.idle_s), args.idle_s))
        for method in ("gradcam", "lime"):
            analysis.panel.methods.set_selected([method])
            t0 = time.perf_counter()
            analysis.analyse()
            gaps = recorder.record(app, lambda: not analysis.running)
            rows.append((f"during {method}", gaps, time.perf_counter() - t0))
            if analysis.errors:
                print("errors:", analysis.errors, file=sys.stderr)
                return 1
        analysis.shutdown()
        window.close()

    idle_max = summary(rows[0][1])[2]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"event-loop gaps (ms) with a {TICK_MS} ms timer; model {args.model} (UNTRAINED weights, timing only); "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"worker nice {args.worker_nice}, torch threads {args.torch_threads or 'default'}")
    print(f"{'case':<20}{'run s':>8}{'median':>9}{'p95':>9}{'max':>9}{'max/idle':>10}{'max/100ms':>11}")
    for name, gaps, seconds in rows:
        median, p95, worst = summary(gaps)
        ratios = f"{worst / max(idle_max, 1e-9):>10.1f}{worst / BUDGET_MS:>11.2f}"
        print(f"{name:<20}{seconds:>8.1f}{median:>9.1f}{p95:>9.1f}{worst:>9.1f}{ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
