"""Measurements burned into exported images of the view (issue 17.3): the PNG a reader saves holds
the lines, ROI outlines and values drawn on that slice, at the voxels they were measured on."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtTest import QTest

from covidviewer.imaging.measurements import calibration_of, measure_length, measure_roi
from covidviewer.ui.analysis.captioned_image import pane_image
from covidviewer.ui.image_canvas import array_from_qimage
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.settings import ViewerSettings

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, make_ct):
    window = MainWindow(ViewerSettings())
    qtbot.addWidget(window)
    window.resize(1100, 800)
    window.show()
    qtbot.waitExposed(window)
    window.state.set_volume(make_ct(shape=(6, 120, 160)))  # labels fit beside their lines
    window.viewer.set_annotations_visible(False)  # only the measurements differ between exports
    QTest.qWait(1)
    yield window
    window.close()


def rgb(image) -> np.ndarray:
    return array_from_qimage(image)[..., :3].astype(int)


def add_length(window, start_yx, end_yx):
    state = window.state
    z = state.slice_index
    length = measure_length("axial", z, 0, [(z, *start_yx), (z, *end_yx)], calibration_of(state.volume))
    window.measurements.model.add(length)
    return length


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.abs(after - before).sum(axis=2) > 30


def test_no_measurement_leaves_the_export_as_the_slice_and_a_length_is_drawn_on_its_voxels(window):
    view = window.viewer
    plain = rgb(view.export_image())
    assert plain.shape[:2] == (120, 160)  # 0.7 mm square pixels: native size
    np.testing.assert_array_equal(plain, np.repeat(view.displayed_image()[..., None], 3, axis=2))
    np.testing.assert_array_equal(rgb(pane_image(view)), plain)  # the Analysis export (Ctrl+E) agrees

    length = add_length(window, (20, 10), (20, 80))
    marked = changed(plain, rgb(view.export_image()))
    assert marked[20, 12:79].all()  # every pixel under the line
    assert not marked[50:, :].any() and not marked[:, :5].any()  # far from the line and its label: untouched
    assert marked[24:45, 85:].any()  # the value, beside the line's end
    assert changed(plain, rgb(pane_image(view)))[20, 12:79].all()

    window.state.step_slice(1)  # the measurement belongs to the other slice
    other = rgb(view.export_image())
    np.testing.assert_array_equal(other, np.repeat(view.displayed_image()[..., None], 3, axis=2))
    window.state.step_slice(-1)
    window.measurements.model.remove(length.id)
    np.testing.assert_array_equal(rgb(view.export_image()), plain)


def test_a_turned_view_exports_the_line_where_it_shows_it(window):
    view, state = window.viewer, window.state
    add_length(window, (20, 10), (20, 80))  # a horizontal line on the upright slice, row 20
    state.rotate(1)  # a quarter turn clockwise: row 20 becomes column 120 - 1 - 20 = 99
    measured = window.measurements.model.items
    window.measurements.model.replace([])
    plain = rgb(view.export_image())
    window.measurements.model.replace(measured)
    marked = changed(plain, rgb(view.export_image()))
    assert plain.shape[:2] == (160, 120)
    assert marked[12:79, 99].all()
    assert not marked[:, :60].any() and not marked[:5, :].any()


def test_an_roi_and_its_values_are_burned_in(window):
    view, state = window.viewer, window.state
    plain = rgb(view.export_image())
    z = state.slice_index
    roi = measure_roi(state.volume, "axial", z, 0, [(z, 20, 20), (z, 70, 70)], "rectangle", calibration_of(state.volume))
    window.measurements.model.add(roi)
    marked = changed(plain, rgb(view.export_image()))
    assert marked[20, 22:69].all() and marked[22:69, 20].all()  # the outline
    assert not marked[25:65, 25:65].any()  # the inside keeps its pixels (values are read there)
    assert marked[74:110, :].any() and not marked[110:, :].any()  # the values, below its lower-right corner


def test_an_anonymised_export_burns_in_anonymised_corner_text(window):
    """The DICOM export asks for it: an anonymised Secondary Capture must not show the patient's name."""
    view, state = window.viewer, window.state
    state.volume.meta.update(patient_name="Doe^Jane", patient_id="P123", study_date="20200314")
    view.set_annotations_visible(True)
    named = rgb(pane_image(view))
    hidden = rgb(pane_image(view, anonymise=True))
    assert (named != hidden).any()
    view.set_anonymised(True)  # what the view itself draws when anonymised
    np.testing.assert_array_equal(rgb(pane_image(view)), hidden)
    assert not view.corner_text().top_left[0].startswith("Doe")
