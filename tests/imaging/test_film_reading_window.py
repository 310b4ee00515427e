"""The window the radiograph models and the lung U-Net read a film through (``film_reading_window``): an 8-bit film
(every training film) through its default window, unchanged; a film of more grey levels through its auto window (its
1st-99th percentile, the empty border left out), whatever window its file gives."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging.window_presets import film_reading_window

RAMP = np.random.default_rng(0).random((256, 256), dtype=np.float32)  # grey levels spread over the whole film


@pytest.mark.parametrize(
    "pixels, default_window, expected",
    [
        (RAMP * 255, (127.5, 255.0), (127.5, 255.0)),  # an 8-bit film: its own window, as the trainer read it
        (RAMP * 200 + 20, (127.5, 255.0), (127.5, 255.0)),  # a dim 8-bit film too
        (RAMP, (0.5, 1.0), (0.5, 1.0)),  # a film already in [0, 1]
        (RAMP * 4095, (2048.0, 4096.0), (2047.5, 4095 * 0.98)),  # 12 bits: its 1-99% range, not the file's window
        (RAMP * 4095, (900.0, 300.0), (2047.5, 4095 * 0.98)),  # another VOI window of the same film: the same range
        (RAMP * 30000 + 2767, (17767.0, 30000.0), (17767.0, 30000 * 0.98)),  # 15 bits
    ],
)
def test_film_reading_window(pixels, default_window, expected) -> None:  # type: ignore[no-untyped-def]
    centre, width = film_reading_window(pixels, default_window)
    assert centre == pytest.approx(expected[0], rel=1e-2) and width == pytest.approx(expected[1], rel=1e-2)


def test_an_empty_or_flat_film_keeps_its_window() -> None:
    assert film_reading_window(np.zeros((0, 0), np.float32), (40.0, 80.0)) == (40.0, 80.0)
    assert film_reading_window(np.full((8, 8), 3000.0, np.float32), (3000.0, 1.0)) == (3000.0, 1.0)


def test_a_many_level_films_padding_does_not_set_its_window() -> None:
    """Pixel Padding (the filled outside of the exposed field) at one value beside the film: left out, as the auto
    window leaves a film's empty border out."""
    film = np.zeros((256, 256), np.float32)  # padding 0 around the exposed field
    film[32:224, 32:224] = 1000 + RAMP[:192, :192] * 3000
    centre, width = film_reading_window(film, (2048.0, 4096.0))
    assert centre == pytest.approx(2500, rel=1e-2) and width == pytest.approx(3000 * 0.98, rel=1e-2)
