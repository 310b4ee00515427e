"""Compare grid (linked panes, shared colour scale, agreement numbers, grid export), the depth-
attention strip, and the Qt-free pieces behind them (agreement numbers, map placement)."""
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
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from covidviewer.analysis.agreement import PaneMap, compute_agreement
from covidviewer.analysis.maps import MapKey, overlay_volume
from covidviewer.analysis.run_history import RunHistory
from covidviewer.explain.agreement import lung_attention_share, top_region_iou
from covidviewer.inference import ModelResult

pytestmark = pytest.mark.gui


def wheel(view, notches: int) -> None:
    """Send a real wheel event to a SliceView's canvas; ``notches`` > 0 turns the wheel towards the user."""
    viewport = view.canvas.viewport()
    centre = QPointF(viewport.rect().center())
    event = QWheelEvent(centre, viewport.mapToGlobal(centre), QPoint(), QPoint(0, -120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def test_compare_panes_stay_linked_share_one_scale_and_report_agreement(qtbot, app_window, square_models, tmp_path):
    window, analysis = app_window
    volume = chest_ct_volume()
    show(qtbot, window, analysis, volume)
    tick(analysis, "tiny_ct3d")
    analysis.panel.methods.set_selected(["default", "gradcam"])  # CAM (the 3D default) and Grad-CAM
    analyse_and_wait(qtbot, analysis)
    assert analysis.errors == []
    assert set(analysis.run.results) == {("tiny_ct3d", "cam"), ("tiny_ct3d", "gradcam")}

    # depth attention strip: per original slice, peak on the soft-tissue block (slices 12..17)
    strip = analysis.panel.strip
    assert strip.isVisibleTo(analysis.panel) and len(strip.bars.values) == volume.shape[0]
    peak = analysis.run.results[("tiny_ct3d", "cam")].peak_slice
    assert 12 <= peak <= 17
    window.state.slice_index = 0
    qtbot.mouseClick(strip.jump_button, Qt.MouseButton.LeftButton)
    assert window.state.slice_index == peak and strip.bars.current == peak

    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    qtbot.waitUntil(lambda: compare.agreement is not None, timeout=30000)  # computed in a worker
    first, second = compare.panes
    assert {first.key.method, second.key.method} == {"cam", "gradcam"}
    assert first.state.slice_index == second.state.slice_index == peak  # starts where the main view is
    assert "tiny_ct3d" in first.view.caption.text() and first.view.caption.isVisibleTo(compare)

    wheel(first.view, 1)  # one notch towards the user: next slice, in the pane under the mouse
    assert first.state.slice_index == peak + 1 and second.state.slice_index == peak + 1
    assert compare.slider.value() == peak + 1
    second.view.zoom(2.0)
    assert second.state.view_range is not None and first.state.view_range == pytest.approx(second.state.view_range)
    first.state.drag_window(40, -20)
    assert second.state.window == first.state.window != window.state.window

    compare.overlay.opacity_slider.setValue(80)
    compare.overlay.colormap_combo.setCurrentText("viridis")
    for pane in compare.panes:
        assert pane.state.overlay.opacity == pytest.approx(0.8) and pane.state.overlay.colormap == "viridis"
    assert window.state.overlay.colormap == "jet"  # the main view keeps its own settings

    maps = [p.state.overlay.data for p in compare.panes]
    expected = top_region_iou(maps[0], maps[1])
    assert compare.agreement.iou[0][1] == pytest.approx(expected)
    assert compare.table.item(0, 2).text() == f"{expected:.2f}"
    assert compare.agreement.lung_share == [None, None]  # CT: no lung mask, said as n/a
    assert compare.table.item(0, 0).text() == "n/a" and "n/a" in compare.agreement_note.text()

    with qtbot.waitSignal(analysis.exports.exported, timeout=30000):
        analysis.export_grid(tmp_path / "grid")
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid is not None and grid.shape[1] > 2 * 64 and grid.shape[0] > 64
    compare.pane_combo.setCurrentIndex(1)
    with qtbot.waitSignal(analysis.exports.exported, timeout=30000) as written:
        analysis.exports.pane_png(compare.chosen_pane(), tmp_path / "pane.png")
    pane = cv2.imread(str(written.args[0]))
    assert pane.shape[1] == volume.shape[2] and pane.shape[0] > volume.shape[1]  # native slice + caption band


def test_one_method_puts_the_models_side_by_side_two_methods_make_a_model_by_method_grid(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())

    def cells(compare):
        grid = compare.grid
        return {(p.key.model, p.key.method): grid.getItemPosition(grid.indexOf(p.view))[:2] for p in compare.panes}

    tick(analysis, "tiny_cxr", "slow_cxr")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    assert cells(compare) == {("tiny_cxr", "gradcam"): (1, 0), ("slow_cxr", "gradcam"): (1, 1)}
    image = compare.grid_png()
    assert image.width() > image.height()  # the exported grid keeps them side by side too

    analysis.panel.methods.set_selected(["gradcam", "eigencam"])
    analyse_and_wait(qtbot, analysis)
    compare = analysis.open_compare()
    assert cells(compare) == {("tiny_cxr", "gradcam"): (1, 0), ("tiny_cxr", "eigencam"): (1, 1),
                              ("slow_cxr", "gradcam"): (2, 0), ("slow_cxr", "eigencam"): (2, 1)}
    assert [compare.grid.rowStretch(r) for r in range(1, 3)] == [1, 1]


def test_compare_panes_show_the_image_turned_mirrored_and_inverted_as_the_main_view(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume(shape=(320, 256)))  # portrait: a quarter turn is seen
    tick(analysis, "tiny_cxr", "slow_cxr")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    main = window.state
    main.rotate(1)
    main.mirror()
    main.inverted = True
    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    for pane in compare.panes:
        assert pane.state.display == main.display == (90, True, True)
        gray = pane.view.displayed_image()
        assert gray.shape[:2] == window.viewer.displayed_image().shape[:2] == (256, 320)
        assert pane.state.markers() == main.markers()
        np.testing.assert_array_equal(pane.state.current_image(), main.current_image())
    assert pane_image_size(compare.panes[0]) == (320, 256)  # its export is turned too (width, height)

    main.reset_display()  # the reader turns the main view back: the open grid follows
    for pane in compare.panes:
        assert pane.state.display == (0, False, False)
        assert pane.view.displayed_image().shape[:2] == (320, 256)
    compare.panes[0].state.rotate(-1)  # turning one pane turns the others, not the main view
    assert compare.panes[1].state.display == (270, False, False) and main.display == (0, False, False)
    compare.close()
    main.rotate(1)  # a closed grid no longer listens
    assert compare.panes == []


def test_compare_panes_cover_the_shutter_and_show_the_overlay_planes_as_the_main_view_does(qtbot, app_window, square_models):
    """A film whose file gives a display shutter: the panes cover its border while the main view does, and show the
    whole film once the reader turns the shutter off there (overlay planes follow the same way)."""
    window, analysis = app_window
    film = radiograph_volume(shape=(320, 256))
    film.meta["display_shutter"] = {"shapes": ["RECTANGULAR"], "rectangle": (11, 246, 11, 310), "value": 0.0}
    show(qtbot, window, analysis, film)
    tick(analysis, "tiny_cxr", "slow_cxr")
    analysis.panel.methods.set_selected(["gradcam"])
    analyse_and_wait(qtbot, analysis)
    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    for pane in compare.panes:
        assert pane.state.current_shutter() is not None and (pane.view.displayed_image()[:10] == 0).all()
    window.state.shutter_shown = False
    window.state.overlay_planes_shown = False
    for pane in compare.panes:
        assert pane.state.current_shutter() is None and not pane.state.overlay_planes_shown
    compare.close()


def pane_image_size(pane) -> tuple[int, int]:
    from covidviewer.ui.analysis.captioned_image import pane_image

    image = pane_image(pane.view)
    return image.width(), image.height()


def test_changing_image_closes_the_compare_grid_and_drops_the_old_results(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    assert len(compare.panes) == 1 and window.actions["compare"].isEnabled()
    show(qtbot, window, analysis, chest_ct_volume())
    assert not compare.isVisible() and compare.panes == []
    assert analysis.run is None and window.state.overlay is None
    assert not window.actions["compare"].isEnabled() and analysis.open_compare() is None


def test_agreement_numbers_use_the_explain_functions_and_compare_single_slices_where_defined():
    rng = np.random.default_rng(0)
    a, b = rng.random((1, 40, 30), dtype=np.float32), rng.random((1, 40, 30), dtype=np.float32)
    lungs = np.zeros((40, 30), dtype=np.float32)
    lungs[5:35, 3:27] = 1.0
    result = compute_agreement([PaneMap("a", a), PaneMap("b", b)], lungs)
    assert result.lung_share[0] == pytest.approx(lung_attention_share(a[0], lungs))
    assert result.iou[0][1] == result.iou[1][0] == pytest.approx(top_region_iou(a, b)) and result.iou[0][0] == 1.0

    volume_map = rng.random((6, 20, 20), dtype=np.float32)
    on_slice_2 = np.zeros_like(volume_map)
    on_slice_2[2] = volume_map[2]
    on_slice_4 = np.zeros_like(volume_map)
    on_slice_4[4] = volume_map[4]
    result = compute_agreement([PaneMap("3d", volume_map), PaneMap("s2", on_slice_2, 2), PaneMap("s4", on_slice_4, 4)], lungs)
    assert result.lung_share == [None, None, None]  # the lung mask belongs to radiographs
    assert result.iou[0][1] == pytest.approx(1.0)  # compared on slice 2 only, where both are defined
    assert result.iou[1][2] is None  # different slices: no comparison

    slice_lungs = np.zeros((20, 20), dtype=np.float32)
    slice_lungs[2:18, 4:16] = 1.0
    result = compute_agreement([PaneMap("3d", volume_map), PaneMap("s2", on_slice_2, 2), PaneMap("s4", on_slice_4, 4)], lungs,
                               slice_lungs={2: slice_lungs, 4: None})
    assert result.lung_share[0] is None and result.lung_share[2] is None  # a whole-volume map; no lungs found on slice 4
    assert result.lung_share[1] == pytest.approx(lung_attention_share(volume_map[2], slice_lungs))
    ct_image = compute_agreement([PaneMap("ct", a)], lungs, slice_lungs={None: lungs[::-1]})  # a single CT image
    assert ct_image.lung_share[0] == pytest.approx(lung_attention_share(a[0], lungs[::-1]))


def test_overlay_volume_places_each_kind_of_map_on_the_image_grid():
    heat = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    radiograph = ModelResult("m", "ok", explanation=None)
    assert overlay_volume(radiograph, (1, 3, 4)) is None
    from covidviewer.explain import Explanation

    radiograph.explanation = Explanation("gradcam", heat, 1)
    np.testing.assert_array_equal(overlay_volume(radiograph, (1, 3, 4)), heat[None])
    ct_slice = ModelResult("m", "ok", explanation=Explanation("gradcam", heat, 1), slice_index=2)
    placed = overlay_volume(ct_slice, (5, 3, 4))
    np.testing.assert_array_equal(placed[2], heat)
    assert placed[[0, 1, 3, 4]].max() == 0.0
    with pytest.raises(ValueError, match="does not fit"):
        overlay_volume(radiograph, (1, 4, 3))


def test_attention_in_lungs_uses_the_lung_unet_mask_of_the_run(qtbot, app_window, square_models, monkeypatch):
    """A hand-set stand-in for the lung U-Net ('lungs' = bright pixels) is installed like trained weights."""
    from dataclasses import replace

    import torch
    from torch import nn

    from covidviewer.models import registry
    from covidviewer.models.weights import save_weights, weights_root

    class BrightLungs(nn.Module):
        def __init__(self, **_kw):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)
            with torch.no_grad():
                self.conv.weight.fill_(20.0)
                self.conv.bias.fill_(-10.0)  # logit > 0 where the [0, 1] image is above 0.5

        def forward(self, x):
            return self.conv(x)

    spec = registry._SPECS["lung_unet"]
    spec = replace(spec, preprocess=replace(spec.preprocess, size=(64, 64)))
    monkeypatch.setitem(registry._BUILDERS, "lung_unet", BrightLungs)
    monkeypatch.setitem(registry._SPECS, "lung_unet", spec)
    model = BrightLungs()
    model.spec = spec
    save_weights(model, spec, weights_root() / spec.weights, training={"note": "hand-set test network"}, metrics={},
                 dtype=torch.float32)

    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    lungs = analysis.run.lung_mask
    assert lungs is not None and lungs.shape == window.state.volume.shape[1:]
    compare = analysis.open_compare()
    qtbot.addWidget(compare)
    qtbot.waitUntil(lambda: compare.agreement is not None, timeout=30000)
    share = compare.agreement.lung_share[0]
    assert share == pytest.approx(lung_attention_share(compare.panes[0].state.overlay.data[0], lungs))
    assert share > 0.5  # the square-evidence model looks at the bright square, which the stand-in calls lung
    assert compare.table.item(0, 0).text() == f"{100 * share:.0f} %"
    assert "inside the lungs (the lung U-Net's mask)" in compare.agreement_note.text()
    result = next(iter(analysis.run.maps(include_stages=False).values()))
    assert result.to_json()["attention_in_lungs"]["share"] == round(share, 4)  # the figure predict's JSON gives
    from PySide6.QtWidgets import QLabel

    note = analysis.panel.results.card("tiny_cxr").findChild(QLabel, "attentionInLungs").text()  # and the answer's card
    assert note.startswith(f"map: {share:.0%} of its attention inside the lungs, which cover ")


def _ct_with_lungs(slices: int):  # -> Volume
    """A chest CT in HU: soft tissue (40) with two aerated lungs (-850) on a 64 px slice, air (-1000) around."""
    from covidviewer.io.volume import Volume

    yy, xx = np.mgrid[:64, :64]
    plane = np.full((64, 64), -1000.0, np.float32)
    plane[((yy - 32) / 24.0) ** 2 + ((xx - 32) / 28.0) ** 2 < 1] = 40.0
    lungs = (((yy - 32) / 15.0) ** 2 + ((xx - 20) / 9.0) ** 2 < 1) | (((yy - 32) / 15.0) ** 2 + ((xx - 44) / 9.0) ** 2 < 1)
    plane[lungs] = -850.0
    plane += np.random.default_rng(0).normal(0.0, 10.0, plane.shape).astype(np.float32)
    pixels = np.repeat(plane[None], slices, axis=0)
    return Volume(pixels, spacing=(5.0, 5.0, 5.0), modality="CT", default_window=(40.0, 400.0), meta={"modality": "CT"})


@pytest.mark.parametrize("slices", [1, 6])
def test_a_ct_slice_map_is_weighed_by_that_slices_lungs_never_by_the_radiograph_unet(square_models, monkeypatch, slices):
    from covidviewer.analysis.run import AnalysisRequest, run_analysis
    from covidviewer.inference import Predictor
    from covidviewer.inference.inputs import HU_READING_WINDOW, ct_lungs_as_read

    unet_calls: list[object] = []
    monkeypatch.setattr(Predictor, "lung_mask", lambda self, volume: unet_calls.append(volume) or np.ones(volume.shape[1:]))
    volume = _ct_with_lungs(slices)
    index = None if slices == 1 else 3
    run = run_analysis(Predictor(device="cpu"), volume, AnalysisRequest(models=("tiny_ctslice",), methods=("gradcam",),
                                                                        device="cpu", slice_index=index))
    assert run.status == "ok" and run.results[("tiny_ctslice", "gradcam")].heatmap is not None
    assert unet_calls == [] and run.lung_mask is None  # a radiograph network never draws a CT slice's lungs
    lungs = run.slice_lungs[index]
    # drawn on the slice as the model reads it (the lung window, not the file's soft-tissue one)
    assert lungs is not None and np.array_equal(lungs, ct_lungs_as_read(volume.pixels[index or 0], HU_READING_WINDOW))
    assert 0.15 < lungs.mean() < 0.3  # the two lungs, 2 x pi x 15 x 9 / 64^2 = 0.21
    history = RunHistory()
    history.add(run, volume)
    item = PaneMap("tiny_ctslice", run.overlay(MapKey("tiny_ctslice", "gradcam"), volume.shape), index)
    share = compute_agreement([item], history.lung_mask, slice_lungs=history.slice_lungs).lung_share[0]
    assert share == pytest.approx(lung_attention_share(item.volume_map[index or 0], lungs))
    # the result carries the same figure, and covidviewer predict's JSON writes it (analyse_input, one way for both)
    figure = {"share": round(share, 4), "lungs_cover": round(float(lungs.mean()), 4)}
    assert run.results[("tiny_ctslice", "gradcam")].to_json()["attention_in_lungs"] == figure
    from covidviewer.analysis.run import analyse_input
    from covidviewer.inference import RunOptions

    predicted = analyse_input(Predictor(device="cpu"), volume, ["tiny_ctslice"], RunOptions(method="gradcam"), slice_index=index)
    assert predicted.models[0].to_json()["attention_in_lungs"] == figure and unet_calls == []


def test_a_failure_to_find_the_lungs_costs_the_agreement_numbers_not_the_answer(square_models, monkeypatch):
    from covidviewer.analysis.run import AnalysisRequest, run_analysis
    from covidviewer.inference import Predictor, inputs

    def broken(plane, window):
        raise RuntimeError("QH6154 Qhull precision error: initial simplex is flat")

    monkeypatch.setattr(inputs, "ct_lungs_as_read", broken)
    run = run_analysis(Predictor(device="cpu"), _ct_with_lungs(6), AnalysisRequest(models=("tiny_ctslice",),
                                                                                   methods=("gradcam",), device="cpu", slice_index=3))
    assert run.status == "ok" and run.results[("tiny_ctslice", "gradcam")].heatmap is not None
    assert run.slice_lungs == {} and any(w.startswith("no CT lungs for the maps' attention figures: QH6154") for w in run.warnings)
