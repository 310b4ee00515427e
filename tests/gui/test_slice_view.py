"""SliceView on a generated CT volume: scrolling, windowing, reformats, overlay, linking, cine."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from covidviewer.imaging import colormap_lut, composite_overlay, window_to_uint8
from covidviewer.ui.slice_view import SliceView
from covidviewer.viewer.linking import link_states

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot, ct_volume):
    view = SliceView()
    qtbot.addWidget(view)
    view.resize(500, 520)
    view.show()
    qtbot.waitExposed(view)
    view.state.set_volume(ct_volume)
    return view


def shown_slice(view, source):
    """What the view must draw for slice data ``source`` in the state's current window."""
    return window_to_uint8(np.ascontiguousarray(source), *view.state.window)


def wheel(widget, notches: int) -> None:
    """Send a mouse-wheel event to the centre of ``widget`` (positive = away from the user)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre, widget.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(widget, event)


def drag(widget, dx: int, dy: int, button=Qt.MouseButton.RightButton, steps: int = 5) -> None:
    """Press ``button`` at the centre, move by (dx, dy) in steps, release."""
    start = QPointF(widget.width() / 2, widget.height() / 2)

    def send(kind, pos, buttons):
        event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)

    send(QMouseEvent.Type.MouseButtonPress, start, button)
    for i in range(1, steps + 1):
        send(QMouseEvent.Type.MouseMove, start + QPointF(dx * i / steps, dy * i / steps), button)
    send(QMouseEvent.Type.MouseButtonRelease, start + QPointF(dx, dy), Qt.MouseButton.NoButton)


def test_wheel_and_keys_scroll_slices_and_change_the_image(view, ct_volume):
    state = view.state
    assert state.slice_index == 6
    np.testing.assert_array_equal(view.displayed_image(), shown_slice(view, ct_volume.pixels[6]))
    wheel(view.canvas.viewport(), -1)  # towards the user: next slice
    assert state.slice_index == 7
    np.testing.assert_array_equal(view.displayed_image(), shown_slice(view, ct_volume.pixels[7]))
    assert "Axial slice 8/12" in view.info_label.text()
    wheel(view.canvas.viewport(), +2)
    assert state.slice_index == 5
    QTest.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton)  # focus by clicking the image
    QTest.keyClick(view.canvas, Qt.Key.Key_Down)
    assert state.slice_index == 6
    QTest.keyClick(view, Qt.Key.Key_End)
    assert state.slice_index == 11
    QTest.keyClick(view, Qt.Key.Key_PageUp)
    assert state.slice_index == 1
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert state.slice_index == 0 and view.controls.slider.value() == 0
    view.controls.slider.setValue(9)
    np.testing.assert_array_equal(view.displayed_image(), shown_slice(view, ct_volume.pixels[9]))


@pytest.mark.parametrize("mouse_map, button", [
    ("weasis", Qt.MouseButton.LeftButton),  # Weasis / OHIF: left-drag = window / level (the default)
    ("classic", Qt.MouseButton.RightButton),
])
def test_window_drag_follows_the_mouse_map_and_changes_the_rendered_pixels(view, ct_volume, mouse_map, button):
    assert view.canvas.mouse_map == "weasis"
    view.canvas.mouse_map = mouse_map
    before_window = view.state.window
    before = view.rendered_rgba()
    drag(view.canvas.viewport(), dx=60, dy=-40, button=button)
    center, width = view.state.window
    assert width > before_window[1] and center < before_window[0]
    np.testing.assert_array_equal(view.displayed_image(), shown_slice(view, ct_volume.pixels[6]))
    assert np.abs(view.rendered_rgba().astype(int) - before.astype(int)).sum() > 0


def test_presets_change_what_is_drawn(view, ct_volume):
    view.state.apply_preset("lung")
    lung = view.displayed_image().copy()
    np.testing.assert_array_equal(lung, window_to_uint8(ct_volume.pixels[6], -600.0, 1500.0))
    view.state.apply_preset("bone")
    assert not np.array_equal(view.displayed_image(), lung)
    view.state.apply_preset("default")
    np.testing.assert_array_equal(view.displayed_image(), window_to_uint8(ct_volume.pixels[6], 40.0, 400.0))


@pytest.mark.parametrize("plane, shape, size_mm", [
    ("coronal", (12, 48), (48 * 0.7, 12 * 2.5)),
    ("sagittal", (12, 40), (40 * 0.7, 12 * 2.5)),
    ("axial", (40, 48), (48 * 0.7, 40 * 0.7)),
])
def test_reformats_show_the_right_shape_with_aspect_from_spacing(view, plane, shape, size_mm):
    view.state.plane = plane
    assert view.displayed_image().shape == shape == view.state.current_image().shape
    rect = view.canvas.image.boundingRect()
    assert (rect.width(), rect.height()) == pytest.approx(size_mm)
    # On screen: the drawn image's width/height ratio equals the physical one (aspect locked).
    on_screen = view.canvas.mapFromScene(rect).boundingRect()
    assert on_screen.width() / on_screen.height() == pytest.approx(size_mm[0] / size_mm[1], rel=0.02)
    assert view.controls.slider.maximum() == view.state.n_slices - 1


def test_overlay_follows_slice_and_reformat_and_obeys_threshold(view, ct_volume):
    heat = np.zeros(ct_volume.shape, dtype=np.float32)
    heat[:, 10:30, 10:30] = np.linspace(0.2, 1.0, ct_volume.shape[0])[:, None, None]
    plain = view.rendered_rgba()
    view.set_overlay(heat, colormap="jet", opacity=0.5, threshold=0.1)
    gray = shown_slice(view, ct_volume.pixels[6])
    expected = composite_overlay(gray, heat[6], colormap_lut("jet"), 0.5, 0.1)
    np.testing.assert_array_equal(view.displayed_image(), expected)
    assert np.abs(view.rendered_rgba().astype(int) - plain.astype(int)).sum() > 0
    shown_before = view.displayed_image().copy()
    view.state.step_slice(2)  # follows scrolling
    expected = composite_overlay(shown_slice(view, ct_volume.pixels[8]), heat[8], colormap_lut("jet"), 0.5, 0.1)
    np.testing.assert_array_equal(view.displayed_image(), expected)
    assert not np.array_equal(view.displayed_image(), shown_before)
    view.state.window = (0.0, 2000.0)  # follows window/level
    assert not np.array_equal(view.displayed_image(), expected)
    view.state.plane = "coronal"  # follows reformats
    assert view.displayed_image().shape == (12, 48, 3)
    view.state.plane = "axial"
    view.state.update_overlay(threshold=1.0)  # only the hottest slice's square would remain
    np.testing.assert_array_equal(view.displayed_image()[..., 0], shown_slice(view, ct_volume.pixels[8]))
    view.state.update_overlay(threshold=0.0, visible=False)
    assert view.displayed_image().ndim == 2
    view.state.window = (40.0, 400.0)
    np.testing.assert_array_equal(view.rendered_rgba(), plain_at(view))


def test_overlay_colours_are_looked_up_again_only_for_another_map_or_table(view, ct_volume, monkeypatch):
    """Opacity, threshold and window changes re-blend the kept colours; a new slice, map or colour table
    looks them up again, and what is drawn is always what a fresh composite gives."""
    import covidviewer.ui.slice_view as slice_view

    lookups: list[int] = []
    real = slice_view.heat_colours
    monkeypatch.setattr(slice_view, "heat_colours", lambda heat, lut: lookups.append(1) or real(heat, lut))
    heat = np.zeros(ct_volume.shape, dtype=np.float32)
    heat[:, 10:30, 10:30] = np.linspace(0.2, 1.0, ct_volume.shape[0])[:, None, None]
    view.set_overlay(heat, colormap="jet", opacity=0.5)
    assert len(lookups) == 1
    view.state.update_overlay(opacity=0.8)
    view.state.update_overlay(threshold=0.3)
    view.state.window = (0.0, 2000.0)
    assert len(lookups) == 1
    index = view.state.slice_index
    expected = composite_overlay(shown_slice(view, ct_volume.pixels[index]), heat[index], colormap_lut("jet"), 0.8, 0.3)
    np.testing.assert_array_equal(view.displayed_image(), expected)
    view.state.step_slice(1)
    assert len(lookups) == 2
    view.state.update_overlay(colormap="viridis")
    assert len(lookups) == 3
    view.set_overlay(heat * 0.5, colormap="viridis", opacity=0.8)
    assert len(lookups) == 4
    expected = composite_overlay(shown_slice(view, ct_volume.pixels[index + 1]), heat[index + 1] * 0.5,
                                 colormap_lut("viridis"), 0.8, 0.0)
    np.testing.assert_array_equal(view.displayed_image(), expected)
    view.set_overlay(None)
    assert view._heat_colours is None  # a removed map's volume is not kept alive


def plain_at(view):
    """Rendering of the same slice and window in a fresh view without overlay (for comparison)."""
    other = SliceView()
    other.resize(view.size())
    other.state.set_volume(view.state.volume)
    other.state.slice_index = view.state.slice_index
    other.state.window = view.state.window
    other.show()
    QApplication.processEvents()
    image = other.rendered_rgba()
    other.close()
    return image


def test_zoom_pan_range_lives_in_state_and_links_views(qtbot, make_ct):
    views = [SliceView(show_controls=False) for _ in range(2)]
    for v in views:
        qtbot.addWidget(v)
        v.resize(400, 400)
        v.show()
        v.state.set_volume(make_ct())
    link = link_states([v.state for v in views])
    views[0].zoom(2.0)
    assert views[0].state.view_range is not None
    assert views[1].state.view_range == views[0].state.view_range
    assert views[1].canvas.visible_rect().width() < 48 * 0.7 * 0.75  # the second pane zoomed in too
    wheel(views[1].canvas.viewport(), -3)
    assert views[0].state.slice_index == views[1].state.slice_index == 9
    np.testing.assert_array_equal(views[0].displayed_image(), views[1].displayed_image())
    views[0].state.window = (100.0, 50.0)
    np.testing.assert_array_equal(views[1].displayed_image(), views[0].displayed_image())
    assert views[1].state.window == (100.0, 50.0)
    views[1].state.fit()
    assert views[0].state.view_range is None
    link.unlink()


def test_cine_plays_and_stops(qtbot, view):
    view.state.cine_fps = 60
    view.controls.play_button.click()
    assert view.state.cine_playing and view.controls.cine_timer.isActive()
    start = view.state.slice_index
    qtbot.waitUntil(lambda: view.state.slice_index != start, timeout=2000)
    view.controls.play_button.click()
    assert not view.state.cine_playing and not view.controls.cine_timer.isActive()


def test_radiograph_disables_reformats(qtbot):
    from covidviewer.io.volume import Volume

    view = SliceView()
    qtbot.addWidget(view)
    view.state.set_volume(Volume(np.zeros((1, 30, 20), np.float32)))
    enabled = {b.objectName(): b.isEnabled() for b in view.controls.plane_buttons.buttons()}
    assert enabled == {"plane_axial": True, "plane_coronal": False, "plane_sagittal": False}
    shown = {b.objectName(): (b.text(), b.isVisibleTo(view)) for b in view.controls.plane_buttons.buttons()}
    assert shown == {"plane_axial": ("Image", True), "plane_coronal": ("Coronal", False),
                     "plane_sagittal": ("Sagittal", False)}  # a chest film is not "Axial"
    assert not view.controls.slider.isEnabled() and not view.controls.play_button.isEnabled()
    view.state.set_volume(Volume(np.zeros((5, 30, 20), np.float32)))
    shown = {b.objectName(): (b.text(), b.isVisibleTo(view)) for b in view.controls.plane_buttons.buttons()}
    assert shown == {"plane_axial": ("Axial", True), "plane_coronal": ("Coronal", True), "plane_sagittal": ("Sagittal", True)}


def test_a_new_volume_is_drawn_once(qtbot, make_ct):
    view = SliceView()
    qtbot.addWidget(view)
    shown = []
    view.imageShown.connect(shown.append)
    view.state.set_volume(make_ct())
    assert shown == [6]
