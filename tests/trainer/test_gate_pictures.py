"""``trainer gate-pictures``: every picture of a folder through every model as the app reads a PNG; a picture any
model answers on is counted, and a real chest film among them is (so the count can tell), a photograph is not."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from covidviewer.models.weights.installed import installed_weights_sha256
from trainer.gate_pictures import ANSWERS_COLUMNS, main

pytestmark = pytest.mark.skipif(installed_weights_sha256("image_kind") is None, reason="the image-kind model is not installed")


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    from skimage import data

    from covidviewer.imaging.windowing import window_to_uint8
    from covidviewer.io import load_path, sample_paths

    folder = tmp_path / "package"
    folder.mkdir()
    film = load_path(sample_paths()["chest_cr"])  # a real PA chest film, standing in for a gate failure
    cv2.imwrite(str(folder / "film.png"), window_to_uint8(film.pixels[0], *film.default_window))
    cv2.imwrite(str(folder / "camera.png"), np.asarray(data.camera()))
    return folder


def test_the_film_among_the_pictures_is_counted_and_the_photograph_is_not(pictures: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["--pictures", str(pictures), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["pictures"], summary["reached_cxr"], summary["reached_ct"]) == (2, 1, 0)
    rows = list(csv.DictReader((out / "answers.csv").open()))
    assert tuple(rows[0]) == ANSWERS_COLUMNS and len(rows) == 2
    answered = [r for r in rows if r["answered_by"]]
    assert len(answered) == 1 and answered[0]["image_kind"].startswith("frontal chest radiograph (")
    assert "dpn92_se=" in answered[0]["answers"]
    assert "2 pictures: 1 reached a chest X-ray model (50.0%), 0 a CT model (0.0%)" in capsys.readouterr().out


def test_a_missing_folder_is_named(tmp_path: Path, capsys) -> None:
    assert main(["--pictures", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "not a folder" in capsys.readouterr().err
