"""Hanging a film: what the models read and what goes back onto the film as stored, for every turn, mirror and
inversion (table test)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from covidviewer.imaging.hanging import Hanging

HANGINGS = [Hanging(turns, mirrored, inverted) for turns, mirrored, inverted in itertools.product(range(4), (False, True), (False, True))]


def _film() -> np.ndarray:
    return np.arange(3 * 5, dtype=np.float32).reshape(1, 3, 5)  # every pixel its own value, not square


@pytest.mark.parametrize("hanging", HANGINGS, ids=lambda h: h.words())
def test_what_is_read_goes_back_to_the_pixel_it_came_from(hanging: Hanging) -> None:
    film = _film()
    read = hanging.read(film, window_centre=7.0)
    assert read.shape[1:] == (film.shape[1:] if hanging.quarter_turns % 2 == 0 else film.shape[:0:-1])
    values = 14.0 - read if hanging.inverted else read
    np.testing.assert_array_equal(hanging.back(values), film)  # a map made on the film as read lands where it was read
    box = (0, 1, 2, 3)  # rows 0-1, columns 1-2 of the film as read
    inside = np.zeros(read.shape[1:], dtype=bool)
    inside[0:2, 1:3] = True
    y0, x0, y1, x1 = hanging.box_back(box, read.shape[1:])
    stored = hanging.back(inside)
    assert stored[y0:y1, x0:x1].all() and stored.sum() == (y1 - y0) * (x1 - x0)


@pytest.mark.parametrize("hanging, words", [
    (Hanging(), "as read"),
    (Hanging(1), "turned 90\u00b0 clockwise"),
    (Hanging(2, True), "upside down (turned 180\u00b0), mirrored"),
    (Hanging(3, False, True), "turned 90\u00b0 counter-clockwise, grey levels inverted (air white)"),
    (Hanging(stretched=True), "dim or flat (read with its window stretched over its own grey levels)"),
])
def test_words_say_how_the_film_is_stored(hanging: Hanging, words: str) -> None:
    assert hanging.words() == words and bool(hanging) == (words != "as read")


def test_a_film_stored_turned_clockwise_is_read_upright() -> None:
    upright = _film()
    stored = np.rot90(upright, -1, axes=(1, 2))  # turned 90 degrees clockwise
    np.testing.assert_array_equal(Hanging(1).read(stored, 0.0), upright)


def test_a_film_read_inside_its_frame_goes_back_to_where_it_lies_in_the_frame() -> None:
    page = np.zeros((1, 10, 12), dtype=np.float32)
    page[0, 2:5, 3:8] = _film()[0, :, :5] + 1
    hanging = Hanging(1, True, crop=(2, 3, 5, 8), stored_shape=(10, 12))
    read = hanging.read(page, 0.0)
    assert read.shape == (1, 5, 3)
    np.testing.assert_array_equal(hanging.back(read), page)  # the frame gets nothing
    assert hanging.box_back((0, 0, 5, 3), (5, 3)) == (2, 3, 5, 8)
    assert hanging.words().startswith("in a frame (read inside it), turned 90\u00b0 clockwise")
    with pytest.raises(ValueError):
        Hanging(crop=(0, 0, 2, 2))  # the way back needs the stored film's shape


@pytest.mark.parametrize("case, expected", [
    ("black page", (40, 50, 140, 170)),
    ("white page", (40, 50, 140, 170)),
    ("no frame", None),  # the film fills the image
    ("noisy border", None),  # not one grey: a photograph's edge, not a frame
    ("thin margin", None),  # the box holds over 80% of the image: nothing worth trimming
])
def test_the_box_inside_a_uniform_frame(case: str, expected) -> None:
    from covidviewer.imaging.hanging import framed_box

    rng = np.random.default_rng(0)
    film = rng.uniform(30, 220, (100, 120)).astype(np.float32)
    page = np.full((200, 260), 255.0 if case == "white page" else 0.0, dtype=np.float32)
    page[40:140, 50:170] = film
    if case == "no frame":
        page = rng.uniform(30, 220, (200, 260)).astype(np.float32)
    if case == "noisy border":
        page += rng.uniform(0, 60, page.shape).astype(np.float32)
    if case == "thin margin":
        page = np.zeros((104, 124), dtype=np.float32)
        page[2:102, 2:122] = film
    assert framed_box(page) == expected
