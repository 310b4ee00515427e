"""Issue 15's catalogue: every bad input through ``inspect --json``, ``predict`` and the viewer's
loader. Each must end with a message a person can act on, no traceback, the documented exit code,
and no new or changed file next to the input. The cases are generated (tests/bad_inputs.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/bad_inputs.py

from bad_inputs import BadInput, build_catalogue, valid_film  # noqa: E402

from covidviewer.__main__ import main  # noqa: E402
from covidviewer.io import LoadError, dicom_tags, load_series, scan_folder, thumbnail  # noqa: E402
from covidviewer.io.study import KIND_DICOM  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")  # pydicom on the broken files


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BadInput]]:
    root = tmp_path_factory.mktemp("catalogue") / "cases"
    return root, build_catalogue(root)


def snapshot(root: Path) -> list[tuple[str, int, int]]:
    """Every entry under root (links not followed: the catalogue holds link loops)."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            info = os.lstat(os.path.join(dirpath, name))
            entries.append((os.path.relpath(os.path.join(dirpath, name), root), info.st_size, info.st_mtime_ns))
    return sorted(entries)


def viewer_messages(path: Path) -> list[str]:
    """What the viewer's controller reads and shows for ``path``: the scan, then per series the
    volume, its tags and its thumbnail (ui/controller.py does exactly these calls in workers)."""
    try:
        result = scan_folder(path)
    except LoadError as err:
        return [str(err)]
    messages = [f"{p}: {why}" for p, why in result.unreadable + result.skipped] + list(result.warnings)
    for series in result.series:
        messages.append(series.label)
        try:
            volume = load_series(series)
            messages += volume.warnings
            if series.kind == KIND_DICOM:
                dicom_tags(series.files[0])
            thumbnail(series)
        except LoadError as err:
            messages.append(str(err))
    return messages


def _check(case: BadInput, leg: str, text: str) -> None:
    pattern = case.pattern(leg)
    assert "Traceback" not in text, f"{case.name} ({leg}): {text}"
    if pattern is not None:
        import re

        assert re.search(pattern, text), f"{case.name} ({leg}): {pattern!r} not in {text[:2000]}"


def test_every_case_through_inspect_predict_and_the_viewer_loader(
    catalogue: tuple[Path, list[BadInput]], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, cases = catalogue
    monkeypatch.setenv("COVIDVIEWER_WEIGHTS_DIR", str(tmp_path / "no-weights"))  # the cheapest predict: no model runs
    before = snapshot(root)
    for case in cases:
        code = main(["inspect", str(case.path), "--json"])
        out, err = capsys.readouterr()
        assert code == case.inspect_exit, f"{case.name}: inspect exit {code}: {err}"
        report = json.loads(out) if code == 0 else {}
        _check(case, "inspect", json.dumps(report, ensure_ascii=False) + err)

        out_dir = tmp_path / "predict" / case.name
        code = main(["predict", str(case.path), "--out", str(out_dir), "--device", "cpu"])
        out, err = capsys.readouterr()
        docs = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
        assert code == case.predict_exit, f"{case.name}: predict exit {code}: {out} {err}"
        assert docs and all(d["reason"] or d["status"] == "ok" for d in docs), f"{case.name}: {docs}"
        _check(case, "predict", json.dumps(docs, ensure_ascii=False) + out + err)

        _check(case, "viewer", "\n".join(viewer_messages(case.path)))
    assert snapshot(root) == before  # nothing written, nothing changed next to any input


def test_one_predict_run_over_all_cases_and_a_valid_film(
    catalogue: tuple[Path, list[BadInput]], tiny_weights, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, cases = catalogue
    tiny_weights("dpn92_se")
    film = valid_film(tmp_path / "film")
    before = snapshot(root)
    out = tmp_path / "out"
    code = main(["predict", str(root), str(film), "--model", "dpn92_se", "--out", str(out), "--device", "cpu", "--quiet"])
    assert code == 1  # some inputs could not be read; every one of them says why
    docs = [json.loads(p.read_text()) for p in out.glob("*.json")]
    (film_doc,) = [d for d in docs if d["input"] == str(film)]
    assert film_doc["status"] == "ok" and film_doc["models"][0]["status"] == "ok"
    errors = [d for d in docs if d["status"] == "error"]
    for case in cases:
        if case.path.is_file() and case.predict_exit == 1 and case.defect != "skip":  # own JSON (a series: folder#number)
            assert any(case.path.name in d["input"] + d["reason"] for d in errors), case.name
    loop_docs = [d for d in docs if "link_loop" in d["input"]]
    assert sum(d["status"] == "error" for d in loop_docs) == 2 and len(loop_docs) == 3  # a.dcm, b.dcm, valid.dcm
    assert snapshot(root) == before
    assert "Traceback" not in capsys.readouterr().err


def _viewer(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "covidviewer", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.gui
def test_the_viewer_opens_the_whole_catalogue_and_shows_a_film(catalogue: tuple[Path, list[BadInput]], tmp_path: Path) -> None:
    root, _ = catalogue
    before = snapshot(root)
    done = _viewer(str(root), "--screenshot", str(tmp_path / "all.png"))  # link loops, a pipe, every bad file
    assert done.returncode == 0 and (tmp_path / "all.png").is_file(), done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(root) == before


@pytest.mark.gui
def test_the_viewer_shows_an_image_with_non_finite_pixels(catalogue: tuple[Path, list[BadInput]], tmp_path: Path) -> None:
    root, _ = catalogue
    done = _viewer(str(root / "nan.mha"), "--screenshot", str(tmp_path / "nan.png"))
    assert done.returncode == 0, done.stderr  # shown, not a black "No image"
    assert "window must be finite" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.gui
def test_screenshot_path_under_a_file_is_refused_at_once(catalogue: tuple[Path, list[BadInput]], tmp_path: Path) -> None:
    root, _ = catalogue
    (tmp_path / "a_file").write_text("x")
    done = _viewer(str(root / "nan.mha"), "--screenshot", str(tmp_path / "a_file" / "shot.png"), timeout=60)
    assert done.returncode == 2 and "a part of the folder path is a file" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.gui
def test_4_a_screenshot_that_fails_to_save_still_quits(qapp, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The capture raising (a path turned into a file, a full disk) ends the run with code 2; the old
    capture set its flag first, raised, and the app waited forever."""
    from types import SimpleNamespace

    from PySide6.QtCore import QObject, QTimer, Signal
    from PySide6.QtWidgets import QWidget

    from covidviewer.ui.app import _screenshot_when_idle

    class Controller(QObject):
        idle = Signal()
        errors: list[str] = []

        def cancel_all(self) -> None: ...

        def shutdown(self) -> None: ...

    class Window(QWidget):
        state = SimpleNamespace(volume=None, can_reformat=False, plane="axial")

        def grab(self):
            raise FileExistsError(17, "File exists", str(tmp_path / "x.png"))

    window, controller = Window(), Controller()
    QTimer.singleShot(0, controller.idle.emit)
    safety = QTimer()
    safety.setSingleShot(True)
    safety.timeout.connect(qapp.quit)
    safety.start(20_000)
    assert _screenshot_when_idle(qapp, window, controller, tmp_path / "x.png", None) == 2
    assert safety.isActive(), "quit by the safety timer: the capture did not end the run"
    assert "could not write" in capsys.readouterr().err
