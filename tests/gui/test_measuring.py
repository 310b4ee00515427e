"""Measurements in the viewer (issue 17.3): drawing with the mouse, slices, rotation, panel, store, export.

(Not test_measurements.py: tests/imaging has that name, and pytest imports test files by basename.)"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pydicom
from pydicom.data import get_testdata_file
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from covidviewer.imaging.measurements import length_mm
from covidviewer.io.volume import Volume
from covidviewer.ui.controller import ViewerController
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.settings import ViewerSettings, measurement_folder
from covidviewer.ui.shortcuts import ACTION_KEYS
from covidviewer.viewer.measurement_model import scene_to_voxel, voxel_to_scene

pytestmark = pytest.mark.gui
LOAD_TIMEOUT_MS = 30000
SERIES_UID = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture
def ct(make_ct):
    """Generated CT volumes that carry a SeriesInstanceUID, as a DICOM series would."""

    def build(uid: str = SERIES_UID) -> Volume:
        volume = make_ct()
        volume.meta.update(series_uid=uid, format="dicom")
        return volume

    return build


@pytest.fixture
def window(qtbot):
    window = MainWindow(ViewerSettings())
    qtbot.addWidget(window)
    window.resize(1300, 860)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


def show(window, volume) -> None:
    window.state.set_volume(volume)
    QTest.qWait(1)


def screen_point(window, x_mm: float, y_mm: float) -> QPoint:
    return window.viewer.canvas.mapFromScene(QPointF(x_mm, y_mm))


def drag(window, start: QPoint, end: QPoint, steps: int = 6) -> None:
    viewport = window.viewer.canvas.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, steps + 1):
        QTest.mouseMove(viewport, start + (end - start) * (i / steps))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def click(window, point: QPoint) -> None:
    QTest.mouseClick(window.viewer.canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)


def screen_tolerance_mm(window) -> float:
    return 1.5 / window.viewer.canvas.scale_factor  # a point lands within a screen pixel or so


def test_a_drag_with_the_length_tool_measures_millimetres_and_left_drag_windows_otherwise(window, ct):
    show(window, ct())
    measures = window.measurements
    window_before = window.state.window
    QTest.keyClick(window.viewer, Qt.Key.Key_M)  # the shortcut, with the image focused
    assert measures.tool.tool == "length" and window.actions["measure_length"].isChecked()
    drag(window, screen_point(window, 7.0, 10.0), screen_point(window, 21.0, 10.0))
    assert window.state.window == window_before  # the tool took the left button: no window/level
    (length,) = measures.model.items
    assert length.kind == "length" and length.unit == "mm"
    assert length.value == pytest.approx(14.0, abs=screen_tolerance_mm(window))
    assert (length.plane, length.slice_index) == ("axial", window.state.slice_index)
    assert measures.overlay.label_of(length.id) == length.label()
    assert measures.panel.row_texts() == [("Length", "Axial 7", length.label())]
    QTest.keyClick(window.viewer, Qt.Key.Key_M)  # again: the left button windows again
    assert measures.tool.tool is None
    drag(window, screen_point(window, 7.0, 10.0), screen_point(window, 21.0, 10.0))
    assert window.state.window != window_before and len(measures.model) == 1


def test_two_clicks_also_measure_and_esc_cancels_then_leaves_the_tool(window, ct):
    show(window, ct())
    measures = window.measurements
    window.actions["measure_length"].trigger()
    click(window, screen_point(window, 5.0, 5.0))
    assert len(measures.tool.pending) == 1
    QTest.mouseMove(window.viewer.canvas.viewport(), screen_point(window, 15.0, 5.0))
    assert len(measures.overlay._preview) > 1  # the dashed line follows the pointer, with its value
    QTest.keyClick(window.viewer, Qt.Key.Key_Escape)
    assert measures.tool.pending == [] and measures.tool.tool == "length" and len(measures.model) == 0
    click(window, screen_point(window, 5.0, 5.0))
    click(window, screen_point(window, 5.0, 26.0))
    assert measures.model.items[0].value == pytest.approx(21.0, abs=screen_tolerance_mm(window))
    QTest.keyClick(window.viewer, Qt.Key.Key_Escape)
    assert measures.tool.tool is None and not window.actions["measure_length"].isChecked()


def test_angles_from_three_clicks_and_from_two_lines(window, ct):
    show(window, ct())
    measures = window.measurements
    window.actions["measure_angle"].trigger()
    for x, y in ((20.0, 8.0), (8.0, 8.0), (8.0, 20.0)):  # vertex second
        click(window, screen_point(window, x, y))
    angle = measures.model.items[-1]
    assert angle.kind == "angle" and angle.value == pytest.approx(90.0, abs=1.0) and angle.label().endswith("\u00b0")
    window.actions["measure_lines"].trigger()
    drag(window, screen_point(window, 4.0, 4.0), screen_point(window, 24.0, 4.0))
    drag(window, screen_point(window, 4.0, 10.0), screen_point(window, 18.0, 24.0))
    lines = measures.model.items[-1]
    assert len(lines.points) == 4 and lines.value == pytest.approx(45.0, abs=1.0)
    assert measures.panel.row_texts()[-1][0] == "Angle (2 lines)"


def test_roi_statistics_are_hounsfield_units_of_the_pixels_inside(window, ct):
    volume = ct()
    show(window, volume)
    measures = window.measurements
    window.actions["measure_rectangle"].trigger()
    drag(window, screen_point(window, 7.2, 7.2), screen_point(window, 14.2, 11.4))
    roi = measures.model.items[0]
    assert roi.kind == "roi" and roi.shape == "rectangle" and roi.unit == "HU"
    (z0, y0, x0), (_z1, y1, x1) = roi.points
    rows = np.arange(volume.shape[1])[(np.arange(volume.shape[1]) >= min(y0, y1)) & (np.arange(volume.shape[1]) <= max(y0, y1))]
    cols = np.arange(volume.shape[2])[(np.arange(volume.shape[2]) >= min(x0, x1)) & (np.arange(volume.shape[2]) <= max(x0, x1))]
    inside = volume.pixels[int(z0)][np.ix_(rows, cols)]
    assert roi.n_pixels == inside.size > 10
    assert roi.mean == pytest.approx(float(inside.mean()), rel=1e-5)
    assert (roi.minimum, roi.maximum) == (float(inside.min()), float(inside.max()))
    assert roi.sd == pytest.approx(float(inside.std(ddof=1)), rel=1e-4)
    assert roi.area == pytest.approx(abs(x1 - x0) * 0.7 * abs(y1 - y0) * 0.7)
    assert "HU" in measures.overlay.label_of(roi.id) and "ROI values: Hounsfield" in measures.panel.calibration_label.text()
    window.actions["measure_ellipse"].trigger()
    drag(window, screen_point(window, 5.0, 5.0), screen_point(window, 25.0, 25.0))
    assert measures.model.items[-1].shape == "ellipse" and measures.panel.row_texts()[-1][0] == "Ellipse ROI"


def test_measurements_are_drawn_on_their_own_slice_only(window, ct):
    show(window, ct())
    measures, state = window.measurements, window.state
    window.actions["measure_length"].trigger()
    drag(window, screen_point(window, 5.0, 5.0), screen_point(window, 20.0, 5.0))
    (length,) = measures.model.items
    assert measures.overlay.drawn_ids == [length.id]
    state.step_slice(1)
    assert measures.overlay.drawn_ids == []
    click(window, screen_point(window, 5.0, 5.0))
    state.step_slice(-1)  # scrolling drops a measurement in progress: it belonged to the other slice
    assert measures.tool.pending == [] and measures.overlay.drawn_ids == [length.id]
    state.plane = "coronal"
    assert measures.overlay.drawn_ids == []
    state.plane = "axial"
    assert measures.overlay.drawn_ids == [length.id]


@pytest.mark.parametrize("plane, turns, mirrored", [
    ("axial", 1, False), ("axial", 2, True), ("axial", 3, False), ("coronal", 0, False), ("sagittal", 1, True),
])
def test_a_measurement_on_a_turned_view_lies_on_the_same_voxels(window, ct, plane, turns, mirrored):
    show(window, ct())
    state, measures = window.state, window.measurements
    state.plane = plane
    state.rotate(turns)
    if mirrored:
        state.mirror()
    voxels = [[2.0, 10.0, 12.0], [9.0, 30.0, 40.0]]
    for voxel in voxels:
        voxel[state.geometry.slice_axis] = float(state.slice_index)  # both on the shown slice
    voxels = [tuple(v) for v in voxels]
    window.actions["measure_length"].trigger()
    for voxel in voxels:
        measures.tool.place(*voxel_to_scene(state.geometry, voxel))
    (length,) = measures.model.items
    np.testing.assert_allclose(length.points, voxels, atol=1e-6)
    assert length.value == pytest.approx(length_mm(*voxels, (2.5, 0.7, 0.7)))
    state.reset_display()  # upright again: the drawn line ends on the same voxels
    path = measures.overlay.items_for(length.id)[0].path()
    ends = [path.elementAt(i) for i in range(path.elementCount())]
    drawn = [scene_to_voxel(state.geometry, state.slice_index, e.x, e.y) for e in ends]
    np.testing.assert_allclose(drawn, voxels, atol=1e-6)


def test_the_panel_selects_goes_to_the_slice_and_deletes(window, ct, qtbot):
    show(window, ct())
    measures, state = window.measurements, window.state
    window.actions["measure_length"].trigger()
    drag(window, screen_point(window, 5.0, 5.0), screen_point(window, 20.0, 5.0))
    first = measures.model.items[0]
    state.step_slice(3)
    drag(window, screen_point(window, 5.0, 15.0), screen_point(window, 20.0, 15.0))
    assert [m.slice_index for m in measures.model.items] == [first.slice_index, first.slice_index + 3]
    measures.panel.table.selectRow(0)
    assert measures.model.selected_id == first.id and state.slice_index == first.slice_index
    assert measures.overlay.drawn_ids == [first.id]
    assert window.actions["measure_delete"].isEnabled()
    measures.panel.delete_button.click()
    assert [m.id for m in measures.model.items] != [] and first.id not in [m.id for m in measures.model.items]
    measures.panel.table.selectRow(0)
    window.viewer.setFocus()
    QTest.keyClick(window.viewer, Qt.Key.Key_Delete)
    assert len(measures.model) == 0 and measures.panel.row_texts() == []


def test_without_a_tool_a_click_on_a_measurement_selects_it(window, ct):
    show(window, ct())
    measures = window.measurements
    window.actions["measure_length"].trigger()
    drag(window, screen_point(window, 5.0, 5.0), screen_point(window, 25.0, 5.0))
    window.actions["measure_ellipse"].trigger()
    drag(window, screen_point(window, 8.0, 12.0), screen_point(window, 20.0, 24.0))
    length, ellipse = measures.model.items
    QTest.keyClick(window.viewer, Qt.Key.Key_Escape)
    assert measures.tool.tool is None
    click(window, screen_point(window, 15.0, 5.0) + QPoint(0, 3))  # near the line, within a few pixels
    assert measures.model.selected_id == length.id and measures.panel.selected_id == length.id
    click(window, screen_point(window, 14.0, 18.0))  # inside the ellipse
    assert measures.model.selected_id == ellipse.id
    click(window, screen_point(window, 30.0, 26.0))  # on nothing
    assert measures.model.selected_id is None


def test_measurements_are_saved_in_the_data_folder_and_come_back(qtbot, window, ct, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    volume = ct()
    volume.sources = [images / "slice1.dcm"]
    show(window, volume)
    window.actions["measure_ellipse"].trigger()
    drag(window, screen_point(window, 5.0, 5.0), screen_point(window, 20.0, 15.0))
    saved = window.measurements.model.items
    folder = measurement_folder()
    assert folder.is_relative_to(tmp_path / "data")  # the test's data folder, never the user's
    assert [p.suffix for p in folder.iterdir()] == [".json"] and list(images.iterdir()) == []
    show(window, ct(uid="9.9.9"))  # another series: none of these
    assert len(window.measurements.model) == 0
    again = MainWindow(ViewerSettings())
    qtbot.addWidget(again)
    show(again, ct())
    assert again.measurements.model.items == saved
    assert again.measurements.panel.row_texts()[0][0] == "Ellipse ROI"
    assert ("info", "1 saved measurement restored") in again.messages.messages
    again.close()


def test_export_json_holds_every_measurement_and_the_calibration(window, ct, tmp_path):
    show(window, ct())
    window.actions["measure_length"].trigger()
    drag(window, screen_point(window, 5.0, 5.0), screen_point(window, 20.0, 5.0))
    assert window.measurements.panel.export_button.isEnabled() and window.actions["measure_export"].isEnabled()
    path = window.measurements.export_to(tmp_path / "out.json")
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    assert document["series_uid"] == SERIES_UID and len(document["measurements"]) == 1
    record = document["measurements"][0]
    assert {"kind", "plane", "slice_index", "points", "value", "unit", "spacing_source"} <= set(record)


@pytest.mark.parametrize("changes, unit, says", [
    ({}, "mm", "Sizes in mm from PixelSpacing"),
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.2, 0.2], "Modality": "DX"}, "mm",
     "Sizes in mm from ImagerPixelSpacing: sizes at the detector"),
    ({"PixelSpacing": None, "ImagerPixelSpacing": [0.25, 0.25], "EstimatedRadiographicMagnificationFactor": 1.25,
      "Modality": "DX"}, "mm", "Sizes in mm from ImagerPixelSpacing divided by the file's magnification factor 1.25"),
    ({"PixelSpacing": None, "Modality": "DX"}, "px", "Sizes in pixels"),
])
def test_lengths_say_which_spacing_they_use(qtbot, window, edited_dicom, changes, unit, says):
    controller = ViewerController(window)
    try:
        with qtbot.waitSignal(controller.idle, timeout=LOAD_TIMEOUT_MS):
            controller.open_path(edited_dicom(get_testdata_file("CT_small.dcm"), "film/film.dcm", **changes))
        qtbot.waitUntil(lambda: window.state.volume is not None, timeout=LOAD_TIMEOUT_MS)
        measures = window.measurements
        assert measures.panel.calibration_label.text().startswith(says)
        window.actions["measure_length"].trigger()
        width_mm = window.state.extent_mm[0]
        drag(window, screen_point(window, 0.2 * width_mm, 0.5 * width_mm), screen_point(window, 0.8 * width_mm, 0.5 * width_mm))
        length = measures.model.items[0]
        assert length.unit == unit and length.label().endswith(unit)
        assert length.spacing_source == measures.calibration.source
        if "ImagerPixelSpacing" in changes:  # 0.2 mm a pixel: at the detector, or 0.25 / 1.25 at the patient
            assert length.value == pytest.approx(0.6 * 128 * 0.2, abs=screen_tolerance_mm(window) + 0.2)
    finally:
        controller.shutdown()


def test_measure_keys_clash_with_no_other_shortcut():
    keys = [key for action_id, (key, _text) in ACTION_KEYS.items() if key and not action_id.startswith("preset_")]
    assert len(keys) == len(set(keys))
    for action_id in ("measure_length", "measure_angle", "measure_lines", "measure_ellipse", "measure_rectangle",
                      "measure_cancel", "measure_delete"):
        assert ACTION_KEYS[action_id][0]


def test_measurements_reach_the_dicom_sr_on_their_stored_frame(qtbot, window, tmp_path, edited_dicom):
    """``sr_records`` feeds the SR of the export actions: SCOORDs on the source image, values in mm / HU."""
    from covidviewer.inference.dicom_export import dicom_source, write_dicom_outputs
    from covidviewer.inference.results import ModelResult

    controller = ViewerController(window)
    try:
        with qtbot.waitSignal(controller.idle, timeout=LOAD_TIMEOUT_MS):
            controller.open_path(edited_dicom(get_testdata_file("CT_small.dcm"), "film/film.dcm"))
        qtbot.waitUntil(lambda: window.state.volume is not None, timeout=LOAD_TIMEOUT_MS)
    finally:
        controller.shutdown()
    measures, state = window.measurements, window.state
    width_mm = state.extent_mm[0]
    for tool, start, end in (("measure_length", (0.2, 0.3), (0.8, 0.3)), ("measure_ellipse", (0.3, 0.4), (0.7, 0.8)),
                             ("measure_lines", (0.1, 0.1), (0.5, 0.1)), ("measure_lines", (0.1, 0.2), (0.5, 0.25))):
        if not window.actions[tool].isChecked():  # the second line of the same angle: the tool is on
            window.actions[tool].trigger()
        drag(window, screen_point(window, start[0] * width_mm, start[1] * width_mm),
             screen_point(window, end[0] * width_mm, end[1] * width_mm))
    assert [m.kind for m in measures.model.items] == ["length", "roi", "angle"]
    records = measures.sr_records()
    assert [r.kind for r in records] == ["length", "roi"]  # one polyline cannot draw an angle between two lines
    length, roi = records
    assert length.values["length"] == pytest.approx(measures.model.items[0].value)
    assert len(roi.points) == 36 and roi.unit == "HU" and set(roi.values) == {"mean", "sd", "min", "max", "area"}
    cols = [p[0] for p in roi.points]
    (_z0, _y0, x0), (_z1, _y1, x1) = measures.model.items[1].points
    assert min(cols) == pytest.approx(min(x0, x1) + 0.5) and max(cols) == pytest.approx(max(x0, x1) + 0.5)
    result = ModelResult(model="m", status="ok", version="1", classes=("a", "b"), probabilities={"a": 0.6, "b": 0.4},
                         label="a", weights_sha256="0" * 64, method="gradcam")
    (tmp_path / "out").mkdir()
    out = write_dicom_outputs(np.zeros((32, 32, 3), np.uint8), dicom_source(state.volume, 0), result, tmp_path / "out",
                              "m", measurements=records)
    report = pydicom.dcmread(out.report)
    items = [item for element in report.iterall() if element.VR == "SQ" for item in element.value]
    assert sum(item.get("ValueType") == "SCOORD" for item in items) == 2
    numbers = {item.ConceptNameCodeSequence[0].CodeMeaning: float(item.MeasuredValueSequence[0].NumericValue)
               for item in items if item.get("ValueType") == "NUM" and "MeasuredValueSequence" in item}
    assert numbers["Length"] == pytest.approx(length.values["length"], abs=1e-3)
