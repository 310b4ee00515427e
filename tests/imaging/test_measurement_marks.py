"""What is drawn of a measurement and where its label goes (Qt-free; the view and exports share it)."""
from __future__ import annotations

import pytest

from covidviewer.imaging.measurement_marks import drawn_shape, measurement_marks, place_labels


@pytest.mark.parametrize("kind, n_points, roi_shape, expected", [
    ("length", 2, None, "length"),
    ("angle", 3, None, "angle"),
    ("angle", 4, None, "lines"),
    ("roi", 2, "ellipse", "ellipse"),
    ("roi", 2, "rectangle", "rectangle"),
])
def test_drawn_shape_names_what_is_drawn(kind, n_points, roi_shape, expected):
    assert drawn_shape(kind, n_points, roi_shape) == expected


@pytest.mark.parametrize("kind, roi_shape", [("roi", "circle"), ("text", None)])
def test_drawn_shape_refuses_what_it_cannot_draw(kind, roi_shape):
    with pytest.raises(ValueError):
        drawn_shape(kind, 2, roi_shape)


@pytest.mark.parametrize("shape, points, lines, box, ends, anchor", [
    ("length", [(1, 2), (9, 2)], (((1, 2), (9, 2)),), None, 2, (9, 2)),
    ("angle", [(0, 0), (5, 5), (10, 0)], (((0, 0), (5, 5), (10, 0)),), None, 3, (5, 5)),  # label at the vertex
    ("lines", [(0, 0), (4, 0), (0, 3), (4, 6)], (((0, 0), (4, 0)), ((0, 3), (4, 6))), None, 4, (4, 6)),
    ("lines", [(0, 0), (4, 0), (0, 3)], (((0, 0), (4, 0)), ((0, 3),)), None, 3, (0, 3)),  # second line begun
    ("ellipse", [(8, 9), (2, 1)], (), (2, 1, 8, 9), 0, (8, 9)),  # drawn from any corner: a normalised box
    ("rectangle", [(2, 9), (8, 1)], (), (2, 1, 8, 9), 0, (8, 9)),
])
def test_marks_of_each_shape(shape, points, lines, box, ends, anchor):
    marks = measurement_marks(shape, points)
    assert marks.lines == lines and marks.box == box and len(marks.ends) == ends and marks.anchor == anchor


def test_labels_stay_inside_and_off_each_other():
    bounds = (0.0, 0.0, 100.0, 80.0)
    # beside its anchor; at the right edge slid left; at the bottom flipped above; a clash moved down
    corners = place_labels([(10, 10), (95, 10), (10, 78), (12, 12)], [(20, 10)] * 4, bounds, offset=(4, 3))
    assert corners[0] == (14, 13)
    assert corners[1] == (100 - 2 - 20, 13)
    assert corners[2] == (14, 78 - 3 - 10)
    assert corners[3] == (16, 13 + 10 + 2)
    for x, y in corners:
        assert 0 <= x and x + 20 <= 100 and 0 <= y and y + 10 <= 80


def test_a_label_with_no_free_room_below_goes_above_its_shape_not_over_it():
    bounds = (0.0, 0.0, 100.0, 80.0)
    # an ROI from y 40 to 75: no room below its lower-right anchor; above the anchor would cover it
    (corner,) = place_labels([(60, 75)], [(30, 10)], bounds, offset=(4, 3), tops=[40])
    assert corner == (64, 40 - 3 - 10)
    # room below, but the corner text is there: above the shape instead
    (corner,) = place_labels([(60, 20)], [(30, 10)], bounds, offset=(4, 3), tops=[15], avoid=[(50, 20, 100, 40)])
    assert corner == (64, 15 - 3 - 10)
    # no free place at all: below, where it fits (the corner text may cover part of it)
    (corner,) = place_labels([(60, 20)], [(30, 10)], bounds, offset=(4, 3), tops=[5], avoid=[(50, 20, 100, 40)])
    assert corner == (64, 23)


def test_marks_top_is_the_highest_point_drawn():
    assert measurement_marks("length", [(0, 9), (5, 4)]).top == 4
    assert measurement_marks("ellipse", [(0, 9), (5, 4)]).top == 4
