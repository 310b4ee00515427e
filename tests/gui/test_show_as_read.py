"""The results' "show it so" link: the display is turned, mirrored and inverted (and a dim film's window stretched)
so that the reader sees the film as the models read it; the film itself is not changed."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_support import app_window, radiograph_volume  # noqa: F401 (fixtures)

from covidviewer.imaging.hanging import Hanging

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("hanging, display", [
    (Hanging(1), (270, False, False)),  # stored turned 90 degrees clockwise: shown turned back
    (Hanging(3, True), (90, True, False)),
    (Hanging(2, False, True), (180, False, True)),
])
def test_the_display_shows_the_film_as_the_models_read_it(qtbot, app_window, hanging, display):
    window, analysis = app_window
    film = radiograph_volume()
    window.state.set_volume(film)
    stored = film.pixels.copy()
    analysis.show_as_read(hanging)
    assert window.state.display == display
    as_read = Hanging(hanging.quarter_turns, hanging.mirrored).read(film.pixels, 0.0)[0]  # the inversion is drawn
    np.testing.assert_array_equal(window.state.current_image(), as_read)  # the plane on screen is the film as read
    np.testing.assert_array_equal(film.pixels, stored)
    window.state.reset()
    assert window.state.display == (0, False, False)


def test_a_dim_film_is_shown_with_its_window_stretched(qtbot, app_window):
    from covidviewer.inference.film_hanging import stretched_window

    window, analysis = app_window
    film = radiograph_volume()
    window.state.set_volume(film)
    analysis.show_as_read(Hanging(stretched=True))
    assert window.state.window == pytest.approx(stretched_window(film))
