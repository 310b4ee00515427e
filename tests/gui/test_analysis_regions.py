"""Maps of models that see a crop (issue 17.6), the compare grid over several runs (17.7) and slice
numbers in reading order in the analysis UI.

A centre-crop model on a portrait radiograph sees rows 32..288 of 320: the main view outlines that
box (dashed, following rotation), the map note and the result card say so, and the exported PNG
has the outline too. Compare keeps Grad-CAM from one run beside Eigen-CAM from another, starts again
on another image, and closes with Esc and Ctrl+W.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from analysis_support import (  # noqa: F401 (app_window, square_models: fixtures)
    analyse_and_wait,
    app_window,
    chest_ct_volume,
    radiograph_volume,
    show,
    square_models,
    tick,
)
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from covidviewer.io.volume import Volume
from covidviewer.ui.analysis.region_outline import DASH_COLOUR

pytestmark = pytest.mark.gui
AXIAL_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def dash_pixels(rgb: np.ndarray) -> np.ndarray:
    """Mask of the outline's yellow dashes in an (h, w, 3) RGB image."""
    r, g, b = (rgb[..., c].astype(int) for c in range(3))
    target = (DASH_COLOUR.red(), DASH_COLOUR.green(), DASH_COLOUR.blue())
    return (abs(r - target[0]) < 40) & (abs(g - target[1]) < 40) & (abs(b - target[2]) < 60)


def test_a_centre_crop_map_is_outlined_named_and_exported_with_its_outline(qtbot, app_window, square_models, tmp_path):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume((320, 256)))  # portrait: a 64 x 64 centre crop loses 32 rows top and bottom
    tick(analysis, "tiny_cxr")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    result = analysis.run.results[("tiny_cxr", "gradcam")]
    assert result.explanation.analysed_box == (32, 0, 288, 256)
    assert analysis.overlay_presenter.outline.rect() == (32, 0, 288, 256) and analysis.overlay_presenter.outline.item.isVisible()
    note = analysis.panel.map_note
    assert note.isVisibleTo(analysis.panel) and "analysed region only: centre square" in note.text()
    card = analysis.panel.results.card("tiny_cxr")
    assert "map covers the analysed region: centre square" in card.findChild(QLabel, "analysedRegion").text()

    with qtbot.waitSignal(analysis.exports.exported, timeout=30000) as written:
        analysis.export_png(tmp_path / "view.png")
    png = cv2.cvtColor(cv2.imread(str(written.args[0])), cv2.COLOR_BGR2RGB)
    dashes = dash_pixels(png[:320])
    rows = np.nonzero(dashes.sum(axis=1) > 20)[0]
    assert rows.min() in range(31, 36) and rows.max() in range(284, 289)  # the top and bottom edges of the box
    assert not dashes[:28].any() and not dashes[292:].any()

    window.state.rotate(1)  # a quarter turn: the box's rows become columns
    assert analysis.overlay_presenter.outline.rect() == (0, 32, 256, 288)
    analysis.panel.overlay.toggle_visible()
    assert window.state.overlay.visible is False and not analysis.overlay_presenter.outline.item.isVisible()


def test_a_model_that_sees_the_whole_image_has_no_outline_or_note(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume((256, 256)))
    tick(analysis, "tiny_cxr")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    assert analysis.run.results[("tiny_cxr", "gradcam")].explanation.covers_whole_image()
    assert analysis.overlay_presenter.outline.rect() is None and not analysis.overlay_presenter.outline.item.isVisible()
    assert not analysis.panel.map_note.isVisibleTo(analysis.panel)
    assert analysis.panel.results.card("tiny_cxr").findChild(QLabel, "analysedRegion") is None


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key pressed in ``window`` once it is the active window (window shortcuts need that)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    QTest.keyClick(window, key, modifier)


def test_compare_accumulates_runs_of_the_image_resets_on_another_and_closes_with_esc_and_ctrl_w(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "tiny_cxr")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    gradcam = analysis.run.results[("tiny_cxr", "gradcam")]
    tick(analysis, "tiny_cxr", "slow_cxr")
    analysis.panel.methods.set_selected(["eigencam"])
    analyse_and_wait(qtbot, analysis)
    assert set(analysis.run.results) == {("tiny_cxr", "eigencam"), ("slow_cxr", "eigencam")}  # this run alone

    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    qtbot.waitExposed(compare)
    cells = {(p.key.model, p.key.method) for p in compare.panes}
    assert cells == {("tiny_cxr", "gradcam"), ("tiny_cxr", "eigencam"), ("slow_cxr", "eigencam")}
    pane = next(p for p in compare.panes if p.key.method == "gradcam")
    assert pane.result is gradcam  # shown from the first run, not re-run
    qtbot.waitUntil(lambda: compare.agreement is not None, timeout=30000)
    assert len(compare.agreement.labels) == 3

    press(qtbot, compare, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not compare.isVisible(), timeout=5000)
    assert analysis.open_compare() is compare and compare.isVisible() and len(compare.panes) == 3  # the runs stayed
    press(qtbot, compare, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not compare.isVisible(), timeout=5000)

    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)  # Grad-CAM again: the newer map takes the old one's place
    newer = analysis.run.results[("tiny_cxr", "gradcam")]
    compare = analysis.open_compare()
    assert len(compare.panes) == 4 and next(p for p in compare.panes if p.key == pane.key).result is newer

    show(qtbot, window, analysis, radiograph_volume((300, 240)))
    assert not compare.isVisible() and compare.panes == [] and not analysis.compare_presenter.history
    assert analysis.open_compare() is None


def head_first_chest_ct() -> Volume:
    """A chest-sized axial CT stored as the DICOM reader returns it (index 0 = most inferior):
    the viewer numbers slice index i as slice n - i."""
    base = chest_ct_volume()
    meta = {**base.meta, "orientation": AXIAL_IOP}
    return Volume(base.pixels, spacing=base.spacing, origin=(0.0, 0.0, -60.0), modality="CT",
                  default_window=base.default_window, meta=meta)


def test_slice_numbers_in_the_analysis_ui_follow_the_viewers_reading_order(qtbot, app_window, square_models):
    window, analysis = app_window
    volume = head_first_chest_ct()
    show(qtbot, window, analysis, volume)
    state = window.state
    n = state.n_slices
    assert state.slice_number_of(0) == n  # head first: index 0 is the last slice read
    state.slice_index = 14
    tick(analysis, "tiny_ctslice", "tiny_ct3d")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    assert analysis.errors == []
    number = n - 14
    card = analysis.panel.results.card("tiny_ctslice")
    assert card.findChild(QLabel, "analysedSlice").text() == f"analysed slice {number}"

    combo = analysis.panel.overlay.map_combo
    combo.setCurrentIndex(next(i for i in range(combo.count()) if combo.itemText(i).startswith("tiny_ctslice")))
    assert f"axial slice {number} only" in analysis.panel.map_note.text()

    combo.setCurrentIndex(next(i for i in range(combo.count()) if combo.itemText(i).startswith("tiny_ct3d")))
    strip = analysis.panel.strip
    peak = analysis.run.results[("tiny_ct3d", "gradcam")].peak_slice
    assert strip.peak_label.text() == f"peak: slice {n - peak}"
    assert strip.bars.reversed  # bars in reading order, like the slider: index 0 on the right
    assert strip.bars.index_at(1) == n - 1

    state.slice_index = 14
    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    pane_state = compare.panes[0].state
    assert compare.slice_label.text() == f"Axial slice {pane_state.slice_number}/{n}"
    assert compare.slider.value() == pane_state.slice_number - 1
    compare.slider.setValue(0)  # the slider's left end is slice 1, the head end
    assert pane_state.slice_index == n - 1 and pane_state.slice_number == 1
    assert f"slice 1/{n}" in compare.panes[0].caption_lines()[0]
    compare.close()
