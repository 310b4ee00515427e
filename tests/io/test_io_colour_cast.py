"""Colour files holding a grey image (equal channels, a mild cast) are read as grey; colour images stay colour."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from covidviewer.io import load_path
from covidviewer.io.colour import CAST_NOTE, as_grey


def _film(height: int = 240, width: int = 200) -> np.ndarray:
    """A grey picture with a film's range of levels and sharp edges (burned-in text is where JPEG bleeds colour)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    grey = 40 + 150 * np.exp(-(((x - width / 2) / (width / 3)) ** 2)) + rng.normal(0, 8, (height, width))
    grey[10:24, 10:60] = 250  # a label
    return np.clip(grey, 0, 255).astype(np.uint8)


def _tinted(grey: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return np.clip(grey[..., None] * np.asarray(gains, np.float32), 0, 255).astype(np.uint8)


def _photo() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def _marked(grey: np.ndarray) -> np.ndarray:
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[100:140, 50:150] = (230, 20, 20)  # a red box drawn over 8% of the film
    return rgb


@pytest.mark.parametrize(
    ("make", "grey", "note"),
    [
        (lambda: np.repeat(_film()[..., None], 3, axis=2), True, None),
        (lambda: _tinted(_film(), (1.0, 0.9, 0.75)), True, CAST_NOTE),  # sepia
        (lambda: _tinted(_film(), (0.85, 0.95, 1.0)), True, CAST_NOTE),  # a cold cast
        (lambda: _tinted(_film(), (1.0, 0.0, 0.0)), False, None),  # pure red: a tint far from grey
        (lambda: _marked(_film()), False, None),
        (_photo, False, None),
    ],
    ids=["equal channels", "sepia", "cold cast", "pure red", "coloured marks", "photograph"],
)
def test_as_grey(make, grey, note):
    rgb = make()
    reading = as_grey(rgb, 255.0)
    assert (reading is not None) == grey
    if reading is not None:
        assert reading.note == note and reading.pixels.shape == rgb.shape[:2]


def test_sepia_jpeg_of_a_film_is_read_as_grey_with_a_note(tmp_path):
    film = _film()
    path = tmp_path / "sepia.jpg"
    cv2.imwrite(str(path), _tinted(film, (1.0, 0.9, 0.75))[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    volume = load_path(path)
    assert not volume.is_rgb and volume.pixels.shape == (1, *film.shape)
    assert CAST_NOTE in volume.warnings and volume.meta["colour_cast"]
    # the film's own grey levels, scaled by the cast's luma (0.87), up to JPEG's loss
    assert np.corrcoef(volume.pixels[0].ravel(), film.ravel())[0, 1] > 0.98


def test_photograph_stays_colour(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), _photo()[..., ::-1])
    volume = load_path(path)
    assert volume.is_rgb and not volume.meta["colour_cast"]
    assert not any(CAST_NOTE in w for w in volume.warnings)


def test_real_films_in_a_cast_are_read_as_grey(shared_data):
    """50 films of the children's and adults' packs, saved as JPEG in sepia and in a cold cast: every one grey."""
    import csv

    rows = list(csv.DictReader(open(shared_data / "cxr" / "labels.csv", encoding="utf-8")))[::18]
    for row in rows:
        film = cv2.imread(str(shared_data / "cxr" / row["path"]), cv2.IMREAD_GRAYSCALE)
        for gains in ((1.0, 0.9, 0.75), (0.85, 0.95, 1.0)):
            ok, jpeg = cv2.imencode(".jpg", _tinted(film, gains)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            rgb = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)[..., ::-1]
            assert as_grey(rgb, 255.0) is not None, (row["path"], gains)
