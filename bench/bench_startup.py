"""Start-up time of the viewer: process start -> visible main window (target < 2 s), torch-free.

Runs ``covidviewer --sample`` in fresh processes and records, from just before the process is
spawned: the first Expose of the main window (visible), and the moment the sample image is
displayed. At the visible moment it also checks that torch is not in ``sys.modules``. Baselines
measured in the same run: an empty Python process, and a bare PySide6 QMainWindow becoming
visible. Prints medians of ``--repeat`` runs and ratios. QSettings go to a temporary folder.

The second start of ``scripts/run-sample`` (the venv already up to date, so scripts/setup only
compares its stamp) is timed to a saved ``--screenshot`` and exit, which is later than the window
becoming visible (an upper bound), against ``covidviewer --sample --screenshot`` run directly and
``scripts/setup`` alone.

    QT_QPA_PLATFORM=offscreen python bench/bench_startup.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 2.0

# Shared by both children: report the first Expose of a QMainWindow (time since the parent's spawn).
_PROBE = r"""
import json, os, sys, time
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

T0 = float(os.environ["BENCH_T0"])
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.environ["BENCH_SETTINGS"])
result = {}

class Probe(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Expose and "visible_s" not in result:
            widgets = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]
            if widgets:
                result["visible_s"] = time.time() - T0
                result["torch_loaded_at_visible"] = "torch" in sys.modules
                QTimer.singleShot(0, lambda: watch(widgets[0]))
        return False

def watch(window):
    state = getattr(window, "state", None)
    if state is None or state.volume is not None:
        result["image_s"] = time.time() - T0
        result["torch_loaded_at_image"] = "torch" in sys.modules
        window.close()
        QApplication.instance().quit()
    else:
        QTimer.singleShot(5, lambda: watch(window))

QCoreApplication.setOrganizationName("CovidViewerBench")
QCoreApplication.setApplicationName("CovidViewerBench")
app = QApplication(sys.argv[:1])
probe = Probe()
app.installEventFilter(probe)
"""

_VIEWER = _PROBE + r"""
from covidviewer.__main__ import main
main(["--sample"])
print("RESULT " + json.dumps(result))
"""

_BARE_QT = _PROBE + r"""
window = QMainWindow()
window.resize(1400, 900)
window.show()
app.exec()
print("RESULT " + json.dumps(result))
"""


def run_child(code: str, settings_dir: str) -> dict:
    env = dict(os.environ, BENCH_SETTINGS=settings_dir, PYTHONPATH=str(REPO))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["BENCH_T0"] = repr(time.time())
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"child failed (rc {done.returncode}):\n{done.stderr[-2000:]}")


def python_start_s() -> float:
    start = time.time()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.time() - start


def wall_s(command: list[str]) -> float:
    """Seconds from spawn to exit of ``command`` (run from the repository, offscreen)."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.time()
    subprocess.run(command, check=True, cwd=REPO, env=env, capture_output=True, timeout=300)
    return time.time() - start


def run_sample_rows(repeat: int) -> list[tuple[str, float]]:
    """Medians: scripts/setup when up to date, run-sample and covidviewer to a saved screenshot."""
    wall_s(["bash", "scripts/setup"])  # the first start installs when pyproject.toml changed
    with tempfile.TemporaryDirectory() as out:
        shot = str(Path(out) / "shot.png")
        viewer = [str(REPO / ".venv" / "bin" / "covidviewer"), "--sample", "--screenshot", shot]
        rows = {"scripts/setup, venv up to date": [], "covidviewer --sample --screenshot": [],
                "scripts/run-sample --screenshot (2nd start)": []}
        for _ in range(repeat):
            rows["scripts/setup, venv up to date"].append(wall_s(["bash", "scripts/setup"]))
            rows["covidviewer --sample --screenshot"].append(wall_s(viewer))
            rows["scripts/run-sample --screenshot (2nd start)"].append(wall_s(["bash", "scripts/run-sample", "--screenshot", shot]))
    return [(name, statistics.median(times)) for name, times in rows.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-run-sample", action="store_true", help="only the in-process probes")
    args = parser.parse_args()
    python_s, bare, viewer = [], [], []
    with tempfile.TemporaryDirectory() as settings_dir:
        for _ in range(args.repeat):
            python_s.append(python_start_s())
            bare.append(run_child(_BARE_QT, settings_dir))
            viewer.append(run_child(_VIEWER, settings_dir))

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    py, qt = statistics.median(python_s), med(bare, "visible_s")
    visible, image = med(viewer, "visible_s"), med(viewer, "image_s")
    torch_visible = any(r["torch_loaded_at_visible"] for r in viewer)
    torch_image = any(r["torch_loaded_at_image"] for r in viewer)
    print(f"start-up, median of {args.repeat} runs, platform {os.environ.get('QT_QPA_PLATFORM', 'default')}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case':42s} {'seconds':>8s}")
    print(f"{'empty python process':42s} {py:8.3f}")
    print(f"{'bare PySide6 QMainWindow visible':42s} {qt:8.3f}")
    print(f"{'covidviewer --sample: window visible':42s} {visible:8.3f}")
    print(f"{'covidviewer --sample: sample image shown':42s} {image:8.3f}")
    print(f"\nwindow visible: {visible:.2f} s = {visible / TARGET_S:.2f} x the 2 s target "
          f"({'met' if visible < TARGET_S else 'NOT met'}); {visible / qt:.2f} x a bare Qt window")
    print(f"torch in sys.modules when the window became visible: {torch_visible}; when the image was shown: {torch_image}")
    if not args.skip_run_sample:
        rows = run_sample_rows(args.repeat)
        print(f"\n{'to a saved screenshot and exit':42s} {'seconds':>8s}")
        for name, seconds in rows:
            print(f"{name:42s} {seconds:8.3f}")
        script, direct = rows[2][1], rows[1][1]
        print(f"run-sample 2nd start: {script:.2f} s ({'under' if script < TARGET_S else 'NOT under'} the 2 s target, "
              f"an upper bound of the window becoming visible); {script / direct:.2f} x covidviewer run directly")
    return 1 if torch_visible else 0


if __name__ == "__main__":
    sys.exit(main())
