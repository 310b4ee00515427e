"""The window the radiograph models and the lung U-Net read a film through (``film_reading_window``): an 8-bit film
(every training film) through its default window, unchanged; a film of more grey levels through its own range,
whatever window its file gives."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging.windowing import film_reading_window

RAMP = np.random.default_rng(0).random((256, 256), dtype=np.float32)  # grey levels spread over the whole film


@pytest.mark.parametrize(
    "pixels, default_window, expected",
    [
        (RAMP * 255, (127.5, 255.0), (127.5, 255.0)),  # an 8-bit film: its own window, as the trainer read it
        (RAMP * 200 + 20, (127.5, 255.0), (127.5, 255.0)),  # a dim 8-bit film too: the classifiers take their own window
        (RAMP, (0.5, 1.0), (0.5, 1.0)),  # a film already in [0, 1]
        (RAMP * 4095, (2048.0, 4096.0), (2047.5, 4095 * 0.99)),  # 12 bits: its 0.5-99.5% range, not the file's window
        (RAMP * 4095, (900.0, 300.0), (2047.5, 4095 * 0.99)),  # another VOI window of the same film: the same range
        (RAMP * 30000 + 2767, (17767.0, 30000.0), (17767.0, 30000 * 0.99)),  # 15 bits
    ],
)
def test_film_reading_window(pixels, default_window, expected) -> None:  # type: ignore[no-untyped-def]
    centre, width = film_reading_window(pixels, default_window)
    assert centre == pytest.approx(expected[0], rel=1e-2) and width == pytest.approx(expected[1], rel=1e-2)


def test_an_empty_or_flat_film_keeps_its_window() -> None:
    assert film_reading_window(np.zeros((0, 0), np.float32), (40.0, 80.0)) == (40.0, 80.0)
    assert film_reading_window(np.full((8, 8), 3000.0, np.float32), (3000.0, 1.0)) == (3000.0, 1.0)
