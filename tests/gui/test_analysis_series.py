"""Whole-series CT in the viewer: a CT-slice model scores every lung slice in the analysis worker,
the panel gives one answer for the series and a per-slice strip that goes to a slice on click;
radiographs are not offered the choice."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_support import (  # noqa: F401 (app_window, square_models: fixtures)
    analyse_and_wait,
    app_window,
    radiograph_volume,
    show,
    square_models,
    tick,
)

from covidviewer.io.volume import Volume

pytestmark = pytest.mark.gui


def _chest_series() -> Volume:
    """Air, a soft-tissue body, aerated lung on slices 4..15 and a dense block on slices 9..10."""
    pixels = np.full((20, 64, 64), -1000.0, dtype=np.float32)
    pixels[:, 8:56, 8:56] = 40.0
    pixels[4:16, 14:50, 14:50] = -800.0
    pixels[9:11, 24:40, 24:40] = 200.0
    return Volume(pixels, spacing=(5.0, 1.0, 1.0), modality="CT", default_window=(-600.0, 1500.0), meta={"modality": "CT"})


def test_a_ct_series_gets_one_answer_and_a_strip_of_slice_scores(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, _chest_series())
    panel = analysis.panel
    assert panel.whole_series.isVisibleTo(panel) and panel.whole_series.isChecked()
    tick(analysis, "tiny_ctslice")
    analyse_and_wait(qtbot, analysis)
    (scan,) = analysis.run.series
    assert scan.status == "ok" and scan.scored == 12 and scan.peak_slice in (9, 10)
    assert panel.series_group.isVisibleTo(panel)
    assert "tiny_ctslice" in panel.series_note.text() and "12 of 20 slices scored" in panel.series_note.text()
    bars = panel.series_strip.bars
    assert len(bars.values) == 20 and bars.values[0] == 0.0
    panel.series_strip.go_to(4)
    assert window.state.slice_index == 4 and window.state.plane == "axial"


def test_the_series_answer_goes_with_its_image_and_radiographs_are_not_offered_it(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, _chest_series())
    tick(analysis, "tiny_ctslice")
    analyse_and_wait(qtbot, analysis)
    assert analysis.panel.series_group.isVisibleTo(analysis.panel)
    show(qtbot, window, analysis, radiograph_volume())
    panel = analysis.panel
    assert not panel.series_group.isVisibleTo(panel) and not panel.whole_series.isVisibleTo(panel)
    assert panel.status.text() == ""


def test_unticked_whole_series_reads_the_shown_slice_only(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, _chest_series())
    analysis.panel.whole_series.setChecked(False)
    tick(analysis, "tiny_ctslice")
    analyse_and_wait(qtbot, analysis)
    assert analysis.run.series == [] and not analysis.panel.series_group.isVisibleTo(analysis.panel)


def test_the_dicom_report_gets_the_measurements_drawn_in_the_viewer(app_window):
    window, analysis = app_window
    assert analysis.exports.measurements == window.measurements.sr_records
