"""``--analyse MODEL[:METHOD]`` for screenshots: the named model alone, with the named method, once the
image's models are listed; the panel scrolled to the series strip; failures named."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_support import app_window, radiograph_volume, square_models  # noqa: F401 (fixtures)

from covidviewer.io.volume import Volume
from covidviewer.ui.analysis.unattended import analyse_when_listed, parse_analysis
from covidviewer.ui.app import run_viewer

pytestmark = pytest.mark.gui


def chest_series() -> Volume:
    """Air, a body, aerated lung on slices 4..15 (scored by the whole-series scan)."""
    pixels = np.full((20, 64, 64), -1000.0, dtype=np.float32)
    pixels[:, 8:56, 8:56] = 40.0
    pixels[4:16, 14:50, 14:50] = -800.0
    return Volume(pixels, spacing=(5.0, 1.0, 1.0), modality="CT", default_window=(-600.0, 1500.0), meta={"modality": "CT"})


@pytest.mark.parametrize("text, expected", [
    ("dresunet:gradcam", ("dresunet", "gradcam")),
    ("dresunet", ("dresunet", "default")),
    (" dpn92_se : lime ", ("dpn92_se", "lime")),
])
def test_parse_analysis(text, expected):
    assert parse_analysis(text) == expected


@pytest.mark.parametrize("argv", [["x.dcm", "--analyse", "dresunet"], ["x.dcm", "--screenshot", "o.png", "--analyse", ":gradcam"]])
def test_analyse_needs_a_screenshot_and_a_model(argv, capsys):
    assert run_viewer(argv) == 2
    assert "--analyse" in capsys.readouterr().err


def run_unattended(qtbot, window, analysis, volume, model, method):
    outcome = []
    analyse_when_listed(analysis, model, method, outcome.append)
    window.state.set_volume(volume)
    qtbot.waitUntil(lambda: bool(outcome), timeout=60000)
    return outcome[0]


def test_the_named_model_alone_runs_with_the_named_method_and_the_strip_is_scrolled_into_view(
        qtbot, app_window, square_models):
    window, analysis = app_window
    window.resize(1400, 700)  # too short for the whole panel: it must scroll to the strip
    problem = run_unattended(qtbot, window, analysis, chest_series(), "tiny_ctslice", "gradcam")
    assert problem is None
    assert set(analysis.run.results) == {("tiny_ctslice", "gradcam")}
    assert window.state.overlay is not None  # the map is drawn
    panel = analysis.panel
    assert panel.series_group.isVisibleTo(panel)
    strip = panel.series_strip
    top_left = strip.mapTo(panel.widget(), strip.rect().topLeft())
    visible = panel.viewport().rect().translated(0, panel.verticalScrollBar().value())
    assert panel.verticalScrollBar().value() > 0 and visible.contains(top_left)


@pytest.mark.parametrize("model, method, says", [
    ("no_such_model", "gradcam", "cannot read this image"),
    ("tiny_ct3d", "gradcam", "cannot read this image"),  # a CT-volume model on a radiograph
    ("tiny_cxr", "no_such_method", "no attention method"),
])
def test_what_cannot_run_is_named(qtbot, app_window, square_models, model, method, says):
    window, analysis = app_window
    problem = run_unattended(qtbot, window, analysis, radiograph_volume(), model, method)
    assert problem is not None and says in problem
    assert analysis.run is None


def test_models_named_with_commas_run_side_by_side(qtbot, app_window, square_models):
    window, analysis = app_window
    problem = run_unattended(qtbot, window, analysis, radiograph_volume(), "tiny_cxr, slow_cxr", "gradcam")
    assert problem is None
    assert set(analysis.run.results) == {("tiny_cxr", "gradcam"), ("slow_cxr", "gradcam")}


def test_one_unreadable_model_in_a_list_stops_the_run(qtbot, app_window, square_models):
    window, analysis = app_window
    problem = run_unattended(qtbot, window, analysis, radiograph_volume(), "tiny_cxr,tiny_ct3d", "gradcam")
    assert problem is not None and "'tiny_ct3d' cannot read this image" in problem
    assert analysis.run is None


def test_all_runs_every_model_that_reads_the_image(qtbot, app_window, square_models):
    window, analysis = app_window
    problem = run_unattended(qtbot, window, analysis, radiograph_volume(), "all", "gradcam")
    assert problem is None
    readers = {name for name, box in analysis.panel.models.boxes.items() if box.isEnabled()}
    assert {"tiny_cxr", "slow_cxr"} <= readers and "tiny_ct3d" not in readers
    assert {name for name, _ in analysis.run.results} == readers
