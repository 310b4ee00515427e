"""Window layout at 1024x768 and 1920x1080 with the Analysis dock installed (issue 17, item 4):
the image keeps most of the width, the slice slider never shrinks to a stub, dock titles are not
clipped, and the panel widths of the last session come back."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from covidviewer.io.volume import Volume
from covidviewer.ui.analysis import install_analysis
from covidviewer.ui.controller import ViewerController
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.settings import ViewerSettings
from covidviewer.ui.slice_controls import MIN_SLIDER_PX

pytestmark = pytest.mark.gui


def ct_stack() -> Volume:
    meta = {"orientation": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), "modality": "CT", "patient_name": "Doe^Jane"}
    return Volume(np.zeros((24, 64, 64), np.float32), spacing=(2.5, 0.7, 0.7), modality="CT", meta=meta)


def open_window(qtbot, size):
    """The window as the application builds it: controller, Analysis dock, stored settings, shown."""
    window = MainWindow(ViewerSettings())
    qtbot.addWidget(window)
    controller = ViewerController(window)
    analysis = install_analysis(window, controller, auto_list_models=False)
    window.restore_settings()
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    window.state.set_volume(ct_stack())
    QApplication.processEvents()
    return window, controller, analysis


def close_window(window, controller, analysis) -> None:
    window.close()
    controller.shutdown()
    analysis.shutdown()


@pytest.mark.parametrize("size", [(1024, 768), (1920, 1080)])
def test_the_image_and_its_slider_keep_their_room(qtbot, size):
    window, controller, analysis = open_window(qtbot, size)
    try:
        view = window.viewer
        assert view.canvas.width() >= 0.4 * size[0]  # the docks leave the image most of the width
        assert view.controls.slider.isVisible() and view.controls.slider.width() >= MIN_SLIDER_PX
        for button in view.controls.plane_buttons.buttons():
            assert button.width() >= button.fontMetrics().horizontalAdvance(button.text())  # "Sagittal" not cut
        studies = window.browser_dock
        assert studies.width() >= studies.fontMetrics().horizontalAdvance("Studies") + 60  # never "St..."
        info = view.info_label
        assert info.width() >= info.fontMetrics().horizontalAdvance(info.text())  # slice, z and W/L readable
        assert analysis.dock.width() <= 0.45 * size[0]
        assert window.status_bar.slice_label.text().startswith("Axial slice")
    finally:
        close_window(window, controller, analysis)


def test_first_launch_opens_larger_than_qts_default(qtbot):
    window, controller, analysis = open_window(qtbot, None)
    try:
        screen = window.screen().availableGeometry()
        assert window.width() >= min(1024, screen.width()) and window.height() >= min(740, screen.height())
    finally:
        close_window(window, controller, analysis)


def test_panel_widths_come_back_next_launch(qtbot):
    window, controller, analysis = open_window(qtbot, (910, 700))  # the offscreen screen is 800 px wide: restoreGeometry clamps
    window.resizeDocks([window.browser_dock, analysis.dock], [240, 370], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    studies, panel, width = window.browser_dock.width(), analysis.dock.width(), window.width()
    close_window(window, controller, analysis)
    again, controller, analysis = open_window(qtbot, None)
    try:
        assert again.width() == width
        assert abs(again.browser_dock.width() - studies) <= 8
        assert abs(analysis.dock.width() - panel) <= 8
    finally:
        close_window(again, controller, analysis)


def test_a_click_in_the_analysis_panel_leaves_the_arrow_keys_with_the_image(qtbot):
    window, controller, analysis = open_window(qtbot, (1400, 900))
    try:
        window.activateWindow()
        check = analysis.panel.overlay.visible_check  # a button of the panel, harmless to press
        QTest.mouseClick(check, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(window.viewer.canvas.hasFocus, timeout=2000)
        index = window.state.slice_index
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)
        assert window.state.slice_index != index
    finally:
        close_window(window, controller, analysis)
