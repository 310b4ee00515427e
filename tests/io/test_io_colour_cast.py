"""Colour files holding a grey image: equal channels are made grey by the reader; a mild cast is found
(``has_mild_cast``) and kept in colour for the viewer (the models read its luma: tests/inference); photographs and
marked films are not a cast."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from covidviewer.io import load_path
from covidviewer.io.colour import equal_channels, has_mild_cast


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
    ("make", "cast"),
    [
        (lambda: _tinted(_film(), (1.0, 0.9, 0.75)), True),  # sepia
        (lambda: _tinted(_film(), (0.85, 0.95, 1.0)), True),  # a cold cast
        (lambda: _tinted(_film(), (1.0, 0.0, 0.0)), False),  # pure red: a tint far from grey
        (lambda: _marked(_film()), False),
        (_photo, False),
    ],
    ids=["sepia", "cold cast", "pure red", "coloured marks", "photograph"],
)
def test_has_mild_cast(make, cast):
    rgb = make()
    assert has_mild_cast(rgb, 255.0) == cast
    assert equal_channels(rgb) is None


def test_equal_channels_are_made_grey_by_every_reader(tmp_path):
    film = _film()
    assert np.array_equal(equal_channels(np.repeat(film[..., None], 3, axis=2)), film)
    path = tmp_path / "grey_in_colour.png"
    cv2.imwrite(str(path), np.repeat(film[..., None], 3, axis=2))
    volume = load_path(path)
    assert not volume.is_rgb and np.array_equal(volume.pixels[0], film)


def test_a_sepia_jpeg_of_a_film_is_shown_in_its_colours(tmp_path):
    path = tmp_path / "sepia.jpg"
    cv2.imwrite(str(path), _tinted(_film(), (1.0, 0.9, 0.75))[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    volume = load_path(path)
    assert volume.is_rgb and has_mild_cast(volume.pixels[0], 255.0)


def test_photograph_stays_colour(tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), _photo()[..., ::-1])
    volume = load_path(path)
    assert volume.is_rgb and not has_mild_cast(volume.pixels[0], 255.0)


def test_real_films_in_a_cast_are_read_as_grey(shared_data):
    """50 films of the children's and adults' packs, saved as JPEG in sepia and in a cold cast: every one grey."""
    import csv

    rows = list(csv.DictReader(open(shared_data / "cxr" / "labels.csv", encoding="utf-8")))[::18]
    for row in rows:
        film = cv2.imread(str(shared_data / "cxr" / row["path"]), cv2.IMREAD_GRAYSCALE)
        for gains in ((1.0, 0.9, 0.75), (0.85, 0.95, 1.0)):
            ok, jpeg = cv2.imencode(".jpg", _tinted(film, gains)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            rgb = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)[..., ::-1]
            assert has_mild_cast(rgb, 255.0), (row["path"], gains)


def test_thumbnail_of_a_colour_image(tmp_path):
    from covidviewer.io import thumbnail

    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), _photo()[..., ::-1])
    assert thumbnail(load_path(path)).max() > 0


def test_the_trainer_reads_a_film_in_a_cast_as_the_app_s_models_do(tmp_path):
    """One reading for both: the cast's luma, rescaled so that its white is white (the film's own grey levels)."""
    from covidviewer.inference.film_hanging import read_volume
    from covidviewer.imaging.hanging import Hanging
    from trainer.data.images import read_2d

    film = _film()
    path = tmp_path / "sepia.png"
    cv2.imwrite(str(path), _tinted(film, (1.0, 0.9, 0.75))[..., ::-1])
    trained_on, _ = read_2d(path)
    read_by_app = read_volume(load_path(path), Hanging(grey=True)).pixels[0]
    np.testing.assert_array_equal(trained_on, read_by_app)
    assert np.abs(trained_on - film).max() <= 2.0
