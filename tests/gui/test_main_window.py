"""Main window + controller: real samples, bad files, status bar, shortcuts, settings, docks."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.data import get_testdata_file
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDockWidget, QLabel

from covidviewer import RESEARCH_NOTICE
from covidviewer.imaging import window_to_uint8
from covidviewer.ui.controller import ViewerController
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.settings import LAYOUT_VERSION, ViewerSettings
from covidviewer.ui.shortcuts import ACTION_KEYS, NO_KEY, ShortcutsDialog

pytestmark = pytest.mark.gui
LOAD_TIMEOUT_MS = 30000


@pytest.fixture
def window(qtbot):
    window = MainWindow(ViewerSettings())
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    controller = ViewerController(window)
    yield window, controller
    controller.shutdown()


def open_and_wait(qtbot, controller, opener, *args):
    with qtbot.waitSignal(controller.idle, timeout=LOAD_TIMEOUT_MS):
        assert opener(*args)


def test_sample_opens_the_chest_radiograph_upright_with_study_list(qtbot, window):
    win, controller = window
    open_and_wait(qtbot, controller, controller.open_samples)
    volume = win.state.volume
    assert volume is not None and volume.modality == "CR" and volume.is_2d
    assert win.browser.series_count() >= 2
    assert controller.errors == []
    shown = win.viewer.displayed_image()
    # drawn through the file's own window, increasing: larger values are drawn brighter
    np.testing.assert_array_equal(shown, window_to_uint8(volume.pixels[0], *volume.default_window))
    # MONOCHROME1 must arrive inverted: lung fields darker than the mediastinum/spine column.
    rows, cols = shown.shape
    band = slice(int(rows * 0.35), int(rows * 0.55))
    lungs = np.r_[shown[band, int(cols * 0.22):int(cols * 0.32)].ravel(), shown[band, int(cols * 0.68):int(cols * 0.78)].ravel()]
    mediastinum = shown[band, int(cols * 0.47):int(cols * 0.53)]
    assert lungs.mean() < mediastinum.mean()
    assert not win.actions["plane_coronal"].isEnabled()  # no reformats of a single radiograph
    assert win.status_bar.slice_label.text() == "CR image"  # not "Axial slice 1/1"
    assert win.viewer.info_label.text().startswith("CR image")
    assert "CR" in win.metadata.summary.text()
    assert win.metadata.visible_tag_count() > 20
    win.metadata.filter_edit.setText("PhotometricInterpretation")
    assert win.metadata.visible_tag_count() == 1
    # thumbnails arrived lazily for every series
    items = [win.browser.topLevelItem(i).child(j) for i in range(win.browser.topLevelItemCount())
             for j in range(win.browser.topLevelItem(i).childCount())]
    assert all(not item.icon(0).isNull() for item in items)


def test_selecting_the_ct_sample_shows_hu_and_millimetres_in_the_status_bar(qtbot, window):
    win, controller = window
    open_and_wait(qtbot, controller, controller.open_samples)
    ct_item = next(
        win.browser.topLevelItem(i).child(0) for i in range(win.browser.topLevelItemCount())
        if win.browser.topLevelItem(i).child(0).text(2) == "CT"
    )
    with qtbot.waitSignal(controller.volumeShown, timeout=LOAD_TIMEOUT_MS):
        win.browser.itemClicked.emit(ct_item, 0)
    assert win.state.volume.modality == "CT"
    viewport = win.viewer.canvas.viewport()
    QTest.mouseMove(viewport, viewport.rect().center())
    qtbot.waitUntil(lambda: "HU" in win.status_bar.pixel_label.text(), timeout=2000)
    assert "mm" in win.status_bar.pixel_label.text() and "LPS" in win.status_bar.pixel_label.text()
    assert win.status_bar.slice_label.text() == "CT image"  # CT_small.dcm is one axial slice
    assert win.status_bar.window_label.text().startswith("W ")


def test_bad_file_is_reported_and_the_other_images_still_load(qtbot, window, tmp_path):
    win, controller = window
    folder = tmp_path / "mixed"
    folder.mkdir()
    real = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (folder / "broken.dcm").write_bytes(real[: len(real) // 2])  # truncated in the pixel data
    (folder / "notes.txt").write_text("not an image")
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    cv2.imwrite(str(folder / "good.png"), gradient)
    before = sorted(p.name for p in folder.iterdir())
    open_and_wait(qtbot, controller, controller.open_path, folder)
    assert any("broken.dcm" in message for message in controller.errors)
    assert win.messages.counts["error"] >= 1
    assert "broken.dcm" in win.messages.toPlainText()
    assert win.statusBar().currentMessage().startswith("Error: ")  # not hidden by later notices
    assert win.status_bar.errors_label.isVisible() and "error" in win.status_bar.errors_label.text()
    assert win.state.volume is not None and win.state.volume.shape == (1, 48, 64)
    assert win.browser.series_count() == 1
    assert "notes.txt" in win.messages.toPlainText()  # skipped files are listed, as information
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into the user's folder


def test_when_the_first_series_cannot_be_read_the_next_one_is_shown(qtbot, window, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/bad_inputs.py
    from bad_inputs import _unknown_vr

    win, controller = window
    folder = tmp_path / "first_is_broken"
    _unknown_vr(folder / "header_breaks_on_load.dcm")  # scans (its header opens), fails when loaded
    cv2.imwrite(str(folder / "good.png"), np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1)))
    open_and_wait(qtbot, controller, controller.open_path, folder)
    assert win.browser.series_count() == 2  # DICOM studies are listed before plain images
    assert any("header_breaks_on_load.dcm" in message for message in controller.errors)
    assert win.state.volume is not None and win.state.volume.shape == (1, 48, 64)
    assert "instead" in win.messages.toPlainText()


def test_missing_path_reports_without_crashing(window, tmp_path):
    win, controller = window
    assert not controller.open_path(tmp_path / "nope")
    assert "no such file" in win.statusBar().currentMessage()
    assert not controller.busy


def test_a_symlink_loop_given_to_the_viewer_is_named_as_one(window, tmp_path):
    win, controller = window
    (tmp_path / "a.dcm").symlink_to(tmp_path / "b.dcm")
    (tmp_path / "b.dcm").symlink_to(tmp_path / "a.dcm")
    assert not controller.open_path(tmp_path / "a.dcm")
    assert "symbolic link loop" in controller.errors[-1] and not controller.busy


def test_menu_shortcuts_drive_the_viewer(qtbot, window, make_ct):
    win, _controller = window
    win.state.set_volume(make_ct())
    win.activateWindow()
    win.viewer.setFocus()
    QTest.keyClick(win.viewer, Qt.Key.Key_2)
    assert win.state.window == (-600.0, 1500.0)
    QTest.keyClick(win.viewer, Qt.Key.Key_C)
    assert win.state.plane == "coronal" and win.actions["plane_coronal"].isChecked()
    QTest.keyClick(win.viewer, Qt.Key.Key_Plus)
    assert win.state.view_range is not None
    QTest.keyClick(win.viewer, Qt.Key.Key_F)
    assert win.state.view_range is None
    QTest.keyClick(win.viewer, Qt.Key.Key_4)
    QTest.keyClick(win.viewer, Qt.Key.Key_R)
    assert win.state.window == (40.0, 400.0)
    QTest.keyClick(win.viewer, Qt.Key.Key_P)
    assert win.state.cine_playing
    QTest.keyClick(win.viewer, Qt.Key.Key_BracketRight)
    assert win.state.cine_fps > 10.0
    QTest.keyClick(win.viewer, Qt.Key.Key_P)
    assert not win.state.cine_playing


def test_help_dialog_lists_every_action_shortcut(qtbot, window):
    win, _controller = window
    dialog = ShortcutsDialog(win)
    qtbot.addWidget(dialog)
    listed = {dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    for action_id, (key, _text) in ACTION_KEYS.items():
        assert (key or NO_KEY) in listed  # menu-only settings are listed as such
        assert win.actions[action_id].shortcut().toString() == key
    notice = win.findChild(QLabel, "researchNotice")
    assert notice.text() == RESEARCH_NOTICE and RESEARCH_NOTICE in win.windowTitle()


def test_settings_keep_recent_paths_and_layout_in_the_redirected_store(qtbot, window, tmp_path, isolated_settings):
    win, controller = window
    open_and_wait(qtbot, controller, controller.open_path, _png(tmp_path))
    assert win.recent_menu.actions()[0].text() == str((tmp_path / "one.png").resolve())
    win.messages_dock.hide()
    win.close()
    assert list(isolated_settings.rglob("*.ini"))  # written under tmp_path only
    again = MainWindow(ViewerSettings())
    qtbot.addWidget(again)
    assert again.settings.recent_paths()[0] == str((tmp_path / "one.png").resolve())
    assert again.restore_settings()
    assert again.messages_dock.isHidden()
    again.settings.qsettings.setValue("window/layout_version", LAYOUT_VERSION + 99)
    assert not MainWindow(ViewerSettings()).restore_settings()  # an old layout is ignored


def _png(folder):
    path = folder / "one.png"
    cv2.imwrite(str(path), np.full((20, 30), 128, np.uint8))
    return path


def test_add_dock_is_the_place_for_analysis_panels(qtbot, window):
    win, _controller = window
    panel = QLabel("analysis")
    dock = win.add_dock(panel, "Analysis")
    assert isinstance(dock, QDockWidget) and dock.objectName() == "dock_analysis"
    assert win.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    qtbot.waitUntil(lambda: dock in win.tabifiedDockWidgets(win.metadata_dock), timeout=2000)
    assert dock.toggleViewAction() in win.panels_menu.actions()


def test_a_film_s_display_shutter_covers_its_border_until_turned_off(qtbot, window, edited_dicom):
    """The built-in CR with a rectangular shutter in its header (PS3.3 C.7.6.11): the view shows the border in the
    shutter's grey (black), as Weasis does; View > Image > display shutter shows the film whole again."""
    win, controller = window
    shuttered = edited_dicom(get_testdata_file("RG1_UNCI.dcm"), ShutterShape="RECTANGULAR", ShutterLeftVerticalEdge=201,
                             ShutterRightVerticalEdge=1700, ShutterUpperHorizontalEdge=101, ShutterLowerHorizontalEdge=1600)
    open_and_wait(qtbot, controller, controller.open_path, shuttered)
    volume = win.state.volume
    whole = window_to_uint8(volume.pixels[0], *volume.default_window)
    shown = win.viewer.displayed_image()
    assert win.actions["shutter"].isEnabled() and win.actions["shutter"].isChecked()
    assert "Display shutter: rectangular" in win.metadata.summary.text()
    assert (shown[:100] == 0).all() and (shown[:, 1700:] == 0).all() and (shown[1600:] == 0).all()
    np.testing.assert_array_equal(shown[100:1600, 200:1700], whole[100:1600, 200:1700])
    win.actions["shutter"].trigger()
    assert not win.state.shutter_shown
    np.testing.assert_array_equal(win.viewer.displayed_image(), whole)


def test_a_film_whose_voi_function_is_sigmoid_is_drawn_through_the_sigmoid(qtbot, window, edited_dicom):
    from covidviewer.imaging.windowing import SIGMOID

    win, controller = window
    open_and_wait(qtbot, controller, controller.open_path, edited_dicom(get_testdata_file("RG1_UNCI.dcm"), VOILUTFunction="SIGMOID"))
    volume = win.state.volume
    expected = window_to_uint8(volume.pixels[0], *volume.default_window, function=SIGMOID)
    np.testing.assert_array_equal(win.viewer.displayed_image(), expected)
    assert not np.array_equal(expected, window_to_uint8(volume.pixels[0], *volume.default_window))
    assert "Window function: sigmoid" in win.metadata.summary.text()


@pytest.mark.parametrize("changes, says", [
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2], "EstimatedRadiographicMagnificationFactor": 1.25},
     "Spacing (mm): 1 x 0.16 x 0.16  (at the patient: ImagerPixelSpacing / magnification factor 1.25)"),
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2]}, "Spacing (mm): 1 x 0.2 x 0.2  (at the detector"),
    ({"PixelSpacing": [0.2, 0.2]}, "Spacing (mm): 1 x 0.2 x 0.2\n"),
])
def test_the_summary_says_at_which_plane_a_film_is_measured(edited_dicom, changes, says):
    from covidviewer.io import load_path
    from covidviewer.ui.metadata_panel import volume_summary

    assert says in volume_summary(load_path(edited_dicom(get_testdata_file("RG1_UNCI.dcm"), **changes)))


def test_a_file_s_overlay_planes_are_drawn_over_it_until_turned_off(qtbot, window):
    win, controller = window
    open_and_wait(qtbot, controller, controller.open_path, Path(get_testdata_file("MR-SIEMENS-DICOM-WithOverlays.dcm")))
    volume = win.state.volume
    drawn = volume.overlay_planes[0]
    whole = window_to_uint8(volume.pixels[0], *volume.default_window)
    assert win.actions["overlay_planes"].isEnabled() and win.actions["overlay_planes"].isChecked()
    assert "Overlay planes: drawn over the image" in win.metadata.summary.text()
    shown = win.viewer.displayed_image()
    assert (shown[drawn] == 255).all() and np.array_equal(shown[~drawn], whole[~drawn])
    win.actions["overlay_planes"].trigger()
    np.testing.assert_array_equal(win.viewer.displayed_image(), whole)
