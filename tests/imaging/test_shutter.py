"""A radiograph's display shutter: the file's shapes (1-based rows and columns) -> the mask of what is shown."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging.shutter import shutter_opening

SHAPE = (20, 30)


def _open(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[rows, cols] = True
    return mask


@pytest.mark.parametrize(
    ("shutter", "expected"),
    [
        (None, None),
        ({}, None),
        # columns 3-25 and rows 2-18 of the file, 1-based and inclusive
        ({"shapes": ["RECTANGULAR"], "rectangle": (3, 25, 2, 18)}, _open(slice(1, 18), slice(2, 25))),
        ({"shapes": ["RECTANGULAR"], "rectangle": (40, 50, 30, 40)}, None),  # nothing left open: shown whole
        # a polygon of the same rectangle's corners (row, column)
        ({"shapes": ["POLYGONAL"], "polygon": [(2, 3), (2, 25), (18, 25), (18, 3)]}, _open(slice(1, 18), slice(2, 25))),
    ],
    ids=["none", "empty", "rectangle", "outside", "polygon"],
)
def test_shutter_opening(shutter, expected):
    got = shutter_opening(shutter, SHAPE)
    if expected is None:
        assert got is None
    else:
        np.testing.assert_array_equal(got, expected)


def test_a_circle_and_a_rectangle_together_leave_open_what_lies_in_both():
    circle = {"shapes": ["CIRCULAR"], "circle": (10.5, 15.5, 8.0)}
    both = {**circle, "shapes": ["RECTANGULAR", "CIRCULAR"], "rectangle": (1, 15, 1, 20)}
    round_opening, cut = shutter_opening(circle, SHAPE), shutter_opening(both, SHAPE)
    assert round_opening[10, 15] and not round_opening[0, 0] and not round_opening[10, 29]
    assert round_opening.sum() == pytest.approx(np.pi * 8**2, rel=0.1)
    np.testing.assert_array_equal(cut, round_opening & _open(slice(0, 20), slice(0, 15)))
