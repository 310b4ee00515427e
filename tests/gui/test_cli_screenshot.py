"""``covidviewer --screenshot`` in a fresh offscreen process: waits for loading, writes a PNG."""
from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest

pytestmark = pytest.mark.gui


def run_cli(args, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run([sys.executable, "-m", "covidviewer", *args], env=env, capture_output=True, text=True, timeout=120)


def test_screenshot_of_the_sample_is_a_full_window_png(tmp_path):
    out = tmp_path / "shot.png"
    done = run_cli(["--sample", "--screenshot", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (900, 1400)
    assert image.std() > 10  # a rendered window, not a blank canvas
    assert not (tmp_path / "config").exists()  # screenshot runs leave no settings behind


def test_screenshot_of_a_missing_path_fails_with_a_message(tmp_path):
    out = tmp_path / "shot.png"
    done = run_cli([str(tmp_path / "missing"), "--screenshot", str(out)], tmp_path)
    assert done.returncode == 2
    assert "no such file" in done.stderr
    assert not out.exists()


def test_screenshot_of_an_unreadable_folder_shows_the_error_and_fails(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "corrupt.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    out = tmp_path / "shot.png"
    done = run_cli([str(folder), "--screenshot", str(out)], tmp_path)
    assert done.returncode == 1
    assert "nothing could be loaded" in done.stderr
    assert cv2.imread(str(out)) is not None  # the window, with its error messages, is still saved
