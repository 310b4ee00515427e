"""Viewer entry point: ``covidviewer [PATH] [--sample] [--screenshot OUT.png]``.

With ``--screenshot`` the window is rendered once every worker has finished (scan, load,
thumbnails; with ``--analyse MODEL[:METHOD]`` also that analysis of the shown image, see
``covidviewer.ui.analysis.unattended``), saved as PNG and the process exits: 0 when an image is
shown, 1 when loading (or the analysis) failed (the screenshot still shows the error), 2 for a bad
command line, a path that does not exist or a screenshot path that cannot be written (checked
before anything loads).
Works under QT_QPA_PLATFORM=offscreen and Xvfb. Screenshot runs never read or write QSettings.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from covidviewer import RESEARCH_NOTICE, __version__

SCREENSHOT_SIZE = (1400, 900)
# Generous: a scan of a large folder on a slow disk may take this long; the run never hangs forever.
SCREENSHOT_TIMEOUT_S = 300


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covidviewer",
        description=f"CovidViewer {__version__}: chest radiograph and CT viewer. {RESEARCH_NOTICE}. "
        "Sub-commands (headless): inspect, predict, models.",
    )
    parser.add_argument("path", nargs="?", help="a file or folder to open")
    parser.add_argument("--sample", action="store_true", help="open the built-in samples (chest CR, CT)")
    parser.add_argument("--screenshot", metavar="OUT.png", help="render the window once loading finishes, save it and exit")
    parser.add_argument("--size", default=f"{SCREENSHOT_SIZE[0]}x{SCREENSHOT_SIZE[1]}", help="window size WxH for --screenshot")
    parser.add_argument("--plane", choices=("axial", "coronal", "sagittal"), help="plane to show with --screenshot")
    parser.add_argument("--analyse", metavar="MODEL[,MODEL...][:METHOD]",
                        help="with --screenshot: analyse the shown image first (e.g. dresunet:gradcam; all: every model that reads it)")
    return parser


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName("CovidViewer")
        QCoreApplication.setApplicationName("CovidViewer")
        app = QApplication(sys.argv[:1])
    return app  # type: ignore[return-value]


def run_viewer(argv: list[str]) -> int:
    """Start the viewer; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    size = _parse_size(args.size)
    if size is None:
        print(f"covidviewer: --size must look like 1400x900, got {args.size!r}", file=sys.stderr)
        return 2
    if args.screenshot and not (args.path or args.sample):
        print("covidviewer: --screenshot needs PATH or --sample", file=sys.stderr)
        return 2
    analysis_choice = None
    if args.analyse:
        from covidviewer.ui.analysis.unattended import parse_analysis

        if not args.screenshot:
            print("covidviewer: --analyse needs --screenshot", file=sys.stderr)
            return 2
        try:
            analysis_choice = parse_analysis(args.analyse)
        except ValueError as exc:
            print(f"covidviewer: {exc}", file=sys.stderr)
            return 2
    problem = screenshot_path_problem(Path(args.screenshot)) if args.screenshot else None
    if problem is not None:
        _say(f"covidviewer: --screenshot {problem}", sys.stderr)
        return 2
    app = _application()
    from covidviewer.ui.controller import ViewerController
    from covidviewer.ui.main_window import MainWindow
    from covidviewer.ui.settings import ViewerSettings

    screenshot = Path(args.screenshot) if args.screenshot else None
    window = MainWindow(ViewerSettings())
    window.persist_settings = screenshot is None
    controller = ViewerController(window)
    from covidviewer.ui.analysis import install_analysis

    # Screenshot runs do not list the models (that imports torch) unless they analyse; the Analysis dock still shows.
    analysis = install_analysis(window, controller, auto_list_models=screenshot is None or analysis_choice is not None)
    if screenshot is None:
        window.restore_settings()
    else:
        window.resize(*size)
    window.show()

    if args.path:
        opened = controller.open_path(args.path)
    elif args.sample:
        opened = controller.open_samples()
    else:
        opened = True
    if screenshot is None:
        code = int(app.exec())
        controller.shutdown()
        analysis.shutdown()
        return code
    if not opened:
        _say(f"covidviewer: {controller.errors[-1]}", sys.stderr)
        window.close()
        return 2
    if analysis_choice is not None:
        code = _screenshot_after_analysis(app, window, controller, analysis, analysis_choice, screenshot, args.plane)
        analysis.shutdown()
        return code
    return _screenshot_when_idle(app, window, controller, screenshot, args.plane)


def screenshot_path_problem(out: Path) -> str | None:
    """Why a PNG cannot be written at ``out`` (checked before loading anything), or None.

    Creates the missing parent folders, as the save would.
    """
    if out.is_dir():
        return f"{out} is a folder, not a file name"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{out}: a part of the folder path is a file"
    except OSError as exc:
        return f"{out}: cannot create its folder ({exc.strerror or exc})"
    return None


def _screenshot_after_analysis(app, window, controller, analysis, choice: tuple[str, str], out: Path,
                               plane: str | None) -> int:
    """Analyse the shown image with ``choice`` (model, method), then save the window and quit (1 when
    the analysis failed: the screenshot shows why)."""
    from covidviewer.ui.analysis.unattended import analyse_when_listed
    from covidviewer.viewer.events import Signal

    failed: list[str] = []

    def analysed(problem: str | None) -> None:
        if problem:
            failed.append(problem)
            _say(f"covidviewer: --analyse {choice[0]}:{choice[1]}: {problem}", sys.stderr)
        trigger.emit()

    trigger = Signal("ready")  # emitted when the analysis ended, or nothing could be loaded
    analyse_when_listed(analysis, *choice, analysed)
    # nothing loaded: no models are listed, so no analysis starts; the screenshot shows the error
    controller.idle.connect(lambda: trigger.emit() if window.state.volume is None else None)
    code = _screenshot_when_idle(app, window, controller, out, plane, trigger)
    return 1 if failed and code == 0 else code


def _screenshot_when_idle(app, window, controller, out: Path, plane: str | None, trigger=None) -> int:
    """Save the window once every task is idle (or, given ``trigger``, a ``covidviewer.viewer.events.Signal``,
    once it is emitted; or at the time limit) and quit; always quits."""
    outcome = {"code": 1, "captured": False}

    def capture() -> None:
        if outcome["captured"]:
            return
        outcome["captured"] = True
        try:
            outcome["code"] = _save(app, window, controller, out, plane)
        except Exception as exc:  # whatever happens, the app must quit, not wait for the watchdog
            _say(f"covidviewer: could not write {out} ({type(exc).__name__}: {exc})", sys.stderr)
            outcome["code"] = 2
        finally:
            window.close()
            app.quit()

    def timed_out() -> None:
        if outcome["captured"]:  # the capture ran but the event loop did not stop: stop it
            app.quit()
            return
        print(f"covidviewer: loading did not finish within {SCREENSHOT_TIMEOUT_S} s", file=sys.stderr)
        controller.cancel_all()
        capture()
        outcome["code"] = 1

    (controller.idle if trigger is None else trigger).connect(lambda: QTimer.singleShot(0, capture))
    watchdog = QTimer(window)
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(timed_out)
    watchdog.start(SCREENSHOT_TIMEOUT_S * 1000)
    app.exec()
    controller.shutdown()
    return outcome["code"]


def _save(app, window, controller, out: Path, plane: str | None) -> int:
    """Render and save the window; the exit code for what it shows."""
    if plane and window.state.volume is not None and (plane == "axial" or window.state.can_reformat):
        window.state.plane = plane
    app.processEvents()  # let the last results lay out and paint
    if not window.grab().save(str(out), "PNG"):
        _say(f"covidviewer: could not write {out}", sys.stderr)
        return 2
    if window.state.volume is None:
        _say("covidviewer: nothing could be loaded: " + "; ".join(controller.errors[-3:]), sys.stderr)
        return 1
    _say(f"covidviewer: screenshot saved to {out}", sys.stdout)
    return 0


def _say(text: str, stream) -> None:
    """print() that survives file names that are not valid UTF-8 (lone surrogates) on any terminal."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, errors="replace").decode(encoding, errors="replace"), file=stream)


def _parse_size(text: str) -> tuple[int, int] | None:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None
