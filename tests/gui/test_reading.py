"""Reading like a radiologist's viewer (issue 17): scroll direction, mouse map, presets per kind of
image, invert / rotate / mirror, corner text and markers (Ctrl+T, anonymised), the HU readout after
scrolling, wheel over panel controls, keys after clicking a button."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QScrollArea, QVBoxLayout, QWidget

from covidviewer.imaging import window_to_uint8
from covidviewer.io import load_path, sample_paths
from covidviewer.io.volume import Volume
from covidviewer.ui.analysis.overlay_controls import OverlayControls
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.settings import ReadingPreferences, ViewerSettings
from covidviewer.ui.slice_view import SliceView

pytestmark = pytest.mark.gui
AXIAL_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def head_first_ct(n: int = 10) -> Volume:
    """An axial CT as the DICOM reader returns it (index 0 = most inferior), value = 100 * index."""
    pixels = np.repeat((100.0 * np.arange(n, dtype=np.float32))[:, None, None], 32, axis=1).repeat(40, axis=2)
    pixels[:, :4, :4] = -1000.0  # something to window
    meta = {"orientation": AXIAL_IOP, "modality": "CT", "patient_name": "Doe^Jane", "patient_id": "P123",
            "study_date": "20200314", "slice_thickness": 2.5}
    return Volume(pixels, spacing=(2.5, 0.7, 0.7), origin=(0.0, 0.0, -50.0), modality="CT",
                  default_window=(40.0, 400.0), meta=meta)


@pytest.fixture
def win(qtbot):
    defaults = dict(SliceView.defaults)
    window = MainWindow(ViewerSettings())
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    yield window
    SliceView.defaults.update(defaults)  # the preferences a test changed do not leak into the next


def wheel(widget, notches: int, pos: QPointF | None = None) -> bool:
    """Wheel event at ``pos`` (default: centre); negative notches = towards the user ("down").

    Returns whether the widget accepted it (Qt offers an ignored wheel to the parent widget when
    the event comes from the mouse; a sent event stops here, so tests look at the acceptance).
    """
    pos = QPointF(widget.width() / 2, widget.height() / 2) if pos is None else pos
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * notches), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def hover(widget, pos: QPointF) -> None:
    event = QMouseEvent(QMouseEvent.Type.MouseMove, pos, widget.mapToGlobal(pos), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_wheel_down_and_down_key_go_towards_the_feet_with_the_position_shown(win):
    state = win.state
    state.set_volume(head_first_ct())
    assert state.slice_index == 5 and state.slice_number == 5  # 10 slices, slice 1 = the head end
    assert "z -37.5 mm" in win.viewer.info_label.text()
    wheel(win.viewer.canvas.viewport(), -1)  # wheel down
    assert state.slice_index == 4  # index 0 is the feet end
    win.viewer.setFocus()
    QTest.keyClick(win.viewer, Qt.Key.Key_Down)
    assert state.slice_index == 3 and state.slice_number == 7 == state.slice_number_of(3)
    QTest.keyClick(win.viewer, Qt.Key.Key_Home)
    assert state.slice_index == 9 and state.slice_number == 1  # Home = the head end
    assert win.viewer.controls.slider.value() == 0  # the slider's left end is the head end
    win.viewer.controls.slider.setValue(9)
    assert state.slice_index == 0  # its right end the feet
    QTest.keyClick(win.viewer, Qt.Key.Key_Home)
    assert "Axial slice 1/10  z -27.5 mm" in win.status_bar.slice_label.text()
    win.actions["scroll_feet"].trigger()  # off: the file's order
    assert not win.reading.scroll_toward_feet and state.slice_number == 10
    wheel(win.viewer.canvas.viewport(), -1)
    assert state.slice_index == 9  # clamped: the last stored slice
    QTest.keyClick(win.viewer, Qt.Key.Key_Up)
    assert state.slice_index == 8
    assert ViewerSettings().reading().scroll_toward_feet is False  # remembered


def test_key_2_gives_a_radiograph_its_own_window_not_the_ct_lung_window(win):
    volume = load_path(sample_paths()["chest_cr"])
    win.state.set_volume(volume)
    win.viewer.setFocus()
    assert not win.actions["preset_lung"].isVisible() and win.actions["preset_auto"].isVisible()
    QTest.keyClick(win.viewer, Qt.Key.Key_2)
    center, width = win.state.window
    assert (center, width) != (-600.0, 1500.0)
    shown = win.viewer.displayed_image()
    assert 40 < shown.mean() < 215 and (shown == 255).mean() < 0.2  # not a white film
    QTest.keyClick(win.viewer, Qt.Key.Key_3)
    pixels = volume.pixels[0]
    assert win.state.window == (pytest.approx((pixels.min() + pixels.max()) / 2), pytest.approx(pixels.max() - pixels.min()))
    QTest.keyClick(win.viewer, Qt.Key.Key_1)
    assert win.state.window == volume.default_window
    win.state.set_volume(head_first_ct())
    QTest.keyClick(win.viewer, Qt.Key.Key_2)
    assert win.state.window == (-600.0, 1500.0)


def test_keys_5_to_7_give_the_file_s_further_windows_each_named_in_the_menu(win, edited_dicom):
    from pydicom.data import get_testdata_file

    volume = load_path(edited_dicom(get_testdata_file("MR_small.dcm"), WindowCenter=[600, 300], WindowWidth=[1200, 400],
                                    WindowCenterWidthExplanation=["BRAIN", "SOFT"]))
    win.state.set_volume(volume)
    win.viewer.setFocus()
    assert win.actions["preset_file_2"].isVisible() and not win.actions["preset_file_3"].isVisible()
    assert win.actions["preset_file_2"].text() == "Window: the file's window 2, SOFT (L 300 / W 400)"
    QTest.keyClick(win.viewer, Qt.Key.Key_5)
    assert win.state.window == (300.0, 400.0)
    QTest.keyClick(win.viewer, Qt.Key.Key_1)
    assert win.state.window == (600.0, 1200.0)
    win.state.set_volume(load_path(sample_paths()["chest_cr"]))  # one window: nothing on 5
    assert not win.actions["preset_file_2"].isVisible()


def test_invert_rotate_and_mirror_redraw_the_image_and_the_markers(win):
    win.state.set_volume(head_first_ct())
    view = win.viewer
    plain = view.displayed_image().copy()
    assert win.state.markers().top == "A" and win.state.markers().left == "R"
    QTest.keyClick(view, Qt.Key.Key_I)
    np.testing.assert_array_equal(view.displayed_image(), 255 - plain)
    QTest.keyClick(view, Qt.Key.Key_I)
    QTest.keyClick(view, Qt.Key.Key_R, Qt.KeyboardModifier.AltModifier)  # rotate clockwise
    np.testing.assert_array_equal(view.displayed_image(), np.rot90(plain, -1))
    assert win.state.markers().right == "A" and win.state.markers().top == "R"
    QTest.keyClick(view, Qt.Key.Key_H)  # mirror left-right
    np.testing.assert_array_equal(view.displayed_image(), np.rot90(plain, -1)[:, ::-1])
    assert win.state.markers().left == "A"
    assert "Rot 90\u00b0 Mirror" in view.corner_text().bottom_right
    QTest.keyClick(view, Qt.Key.Key_R)  # reset
    np.testing.assert_array_equal(view.displayed_image(), plain)


def test_corner_text_toggles_with_ctrl_t_and_is_anonymised_on_request(win):
    win.state.set_volume(head_first_ct())
    view = win.viewer
    corners, markers = view.canvas.annotations()
    assert corners.top_left[0] == "Doe Jane" and markers.left == "R"
    assert corners.bottom_left[:2] == ("Axial 5/10", "z -37.5 mm")
    with_text = view.rendered_rgba()
    exported = view.export_image()
    QTest.keyClick(view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert view.canvas.annotations() == (None, None) and not win.reading.annotations
    assert np.abs(view.rendered_rgba().astype(int) - with_text.astype(int)).sum() > 0
    plain_export = view.export_image()
    assert exported.size() == plain_export.size() and exported != plain_export  # burned into exports too
    QTest.keyClick(view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    win.actions["anonymise"].trigger()
    corners, _ = view.canvas.annotations()
    flat = " ".join(corners.top_left + corners.top_right)
    assert "Doe" not in flat and "P123" not in flat and "2020" not in flat
    assert ViewerSettings().reading() == ReadingPreferences(anonymise=True)
    pane = SliceView(show_controls=False)  # a compare pane built now reads the same way
    pane.state.set_volume(head_first_ct())
    assert pane.canvas.annotations()[0].top_left == ("Anonymised",)
    pane.deleteLater()


def test_pa_chest_sample_shows_r_on_the_viewers_left(win):
    win.state.set_volume(load_path(sample_paths()["chest_cr"]))
    _, markers = win.viewer.canvas.annotations()
    assert (markers.left, markers.right, markers.top, markers.bottom) == ("R", "L", "H", "F")


def test_hu_readout_follows_the_slice_after_scrolling(win, qtbot):
    win.state.set_volume(head_first_ct())
    viewport = win.viewer.canvas.viewport()
    centre = QPointF(viewport.width() / 2, viewport.height() / 2)
    hover(viewport, centre)
    before = win.status_bar.pixel_label.text()
    assert "500 HU" in before and "z 5)" in before
    wheel(viewport, -1, centre)  # the mouse has not moved; the slice has
    after = win.status_bar.pixel_label.text()
    assert "400 HU" in after and "z 4)" in after


def test_weasis_mouse_map_is_the_default_and_right_drag_zooms_gently(win):
    win.state.set_volume(head_first_ct())
    canvas = win.viewer.canvas
    assert canvas.mouse_map == "weasis" and win.actions["mouse_weasis"].isChecked()
    viewport = canvas.viewport()
    start = QPointF(viewport.width() / 2, viewport.height() / 2)
    scale = canvas.scale_factor
    for kind, pos, buttons in ((QMouseEvent.Type.MouseButtonPress, start, Qt.MouseButton.RightButton),
                               (QMouseEvent.Type.MouseMove, start + QPointF(0, -100), Qt.MouseButton.RightButton),
                               (QMouseEvent.Type.MouseButtonRelease, start + QPointF(0, -100), Qt.MouseButton.NoButton)):
        QApplication.sendEvent(viewport, QMouseEvent(kind, pos, viewport.mapToGlobal(pos), Qt.MouseButton.RightButton,
                                                     buttons, Qt.KeyboardModifier.NoModifier))
    assert 1.3 < canvas.scale_factor / scale < 1.5  # 100 px up: about 1.4x (it was 4x)
    assert win.state.window == (40.0, 400.0)
    win.actions["mouse_weasis"].trigger()
    assert canvas.mouse_map == "classic"


def test_wheel_over_an_unclicked_combo_or_slider_scrolls_the_panel_instead(qtbot):
    area = QScrollArea()
    qtbot.addWidget(area)
    inner = QWidget()
    layout = QVBoxLayout(inner)
    controls = OverlayControls()
    layout.addWidget(controls)
    layout.addSpacing(2000)
    area.setWidget(inner)
    area.resize(300, 200)
    area.show()
    qtbot.waitExposed(area)
    combo, slider = controls.colormap_combo, controls.opacity_slider
    colormap, opacity = combo.currentText(), slider.value()
    assert not wheel(combo, -1) and not wheel(slider, -1)  # ignored: passed on to the scrolling panel
    assert combo.currentText() == colormap and slider.value() == opacity
    assert combo.focusPolicy() == Qt.FocusPolicy.StrongFocus
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus, timeout=2000)
    wheel(combo, -1)
    assert combo.currentText() != colormap  # once clicked, the wheel works on it


def test_arrows_still_scroll_after_clicking_a_panel_button(win, qtbot):
    button = QPushButton("Analyse")
    win.add_dock(button, "Buttons")
    win.state.set_volume(head_first_ct())
    win.activateWindow()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(win.viewer.canvas.hasFocus, timeout=2000)
    index = win.state.slice_index
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
    assert win.state.slice_index == index - 1
