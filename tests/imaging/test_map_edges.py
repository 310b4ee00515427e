"""A map put back on the original grid ends with a hard edge at the analysed region (issue 17.6).

A centre crop's map used to be resized together with the zeros around it, so its last rows blended
towards 0: a band of low values a few pixels wide that the colour map drew as a thin line along
the map's edges (seen at the lower edge, where the CXR maps were hot), in the view and in exports.
"""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.explain.base import analysed_box
from covidviewer.imaging.preprocess import Grid2D


@pytest.mark.parametrize(
    ("original", "size", "fit", "box"),
    [
        ((320, 256), (64, 64), "crop", None),
        ((1955, 1841), (224, 224), "crop", None),
        ((256, 320), (64, 64), "crop", None),
        ((2000, 1500), (64, 64), "crop", None),
        ((1955, 1841), (128, 128), "crop", (26, 0, 1670, 1815)),
        ((1955, 1841), (128, 128), "stretch", (26, 0, 1670, 1815)),
    ],
)
def test_a_map_is_its_edge_value_up_to_the_analysed_box_and_zero_beyond(original, size, fit, box) -> None:
    grid = Grid2D.fit(original, size, fit, box)
    model_map = np.zeros(size, np.float32)
    model_map[-1], model_map[0] = 1.0, 0.5  # hot on the last row (the lower edge), warm on the first
    model_map[:, 0] = model_map[:, -1] = 0.5
    back = grid.to_original(model_map)
    y0, x0, y1, x1 = analysed_box(grid)
    outside = back.copy()
    outside[y0:y1, x0:x1] = 0.0
    assert outside.max() == 0.0  # nothing leaks past the box
    column = back[y0:y1, (x0 + x1) // 2]
    assert column[-1] == pytest.approx(1.0) and column[0] == pytest.approx(0.5)  # no fade to 0 at the edges
    assert back[y0:y1, x0].min() > 0.0 and back[y0:y1, x1 - 1].min() > 0.0


def test_a_uniform_map_stays_uniform_inside_the_centre_square() -> None:
    grid = Grid2D.fit((320, 256), (64, 64), "crop")
    back = grid.to_original(np.ones((64, 64), np.float32))
    assert np.array_equal(np.nonzero(back.any(axis=1))[0], np.arange(32, 288))
    assert set(np.unique(back)) == {0.0, 1.0}
