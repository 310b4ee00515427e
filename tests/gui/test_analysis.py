"""Analysis dock: model list with reasons, Analyse in a worker while the UI answers, cancel, results
(decision, probabilities, version + weights SHA, notice), refused inputs, overlay controls, export.

Models are hand-set test networks registered at test time (tests/gui/analysis_support.py); the
real registered models have no weights in the temporary weights folder and must show as
"needs training".
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from analysis_support import (  # noqa: F401 (app_window, square_models: fixtures)
    RUN_TIMEOUT_MS,
    GatedNet,
    analyse_and_wait,
    app_window,
    radiograph_volume,
    show,
    square_models,
    tick,
)
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel

from covidviewer import RESEARCH_NOTICE
from covidviewer.io import load_path, sample_paths
from covidviewer.ui.analysis.results_view import ProbabilityBars

pytestmark = pytest.mark.gui


def colour_pixels(image: np.ndarray) -> int:
    """Pixels whose channels differ (the grey image has equal channels)."""
    return int(np.count_nonzero((image[..., 0] != image[..., 1]) | (image[..., 1] != image[..., 2])))


def test_real_radiograph_lists_models_with_reasons_and_shows_a_captioned_result(qtbot, app_window, square_models):
    window, analysis = app_window
    volume = load_path(sample_paths()["chest_cr"])  # RG1_UNCI: real PA chest CR, MONOCHROME1
    show(qtbot, window, analysis, volume)
    picker = analysis.panel.models
    assert picker.boxes["tiny_cxr"].isEnabled() and picker.boxes["tiny_cxr"].isChecked()
    assert not picker.boxes["dpn92_se"].isEnabled() and not picker.boxes["dpn92_se"].isChecked()
    assert picker.findChild(QLabel, "why_dpn92_se").text() == "needs training: python -m trainer fit dpn92_se"
    cascade = picker.findChild(QLabel, "why_cascade_semenet").text()
    assert all(part in cascade for part in ("seme_resnet50", "lung_unet", "seme_densenet169"))
    others = picker.findChild(QLabel, "otherModels").text()
    assert "darnet" in others and "tiny_ct3d" in others and "tiny_cxr" not in others

    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    assert analysis.errors == []
    card = analysis.panel.results.card("tiny_cxr")
    assert card.findChild(QLabel, "decision").text().startswith("Model's answer: ")
    details = card.findChild(QLabel, "details").text()
    sha = analysis.run.results[("tiny_cxr", "gradcam")].weights_sha256
    assert len(sha) == 64 and sha[:12] in details
    assert "v0-test" in card.findChild(QLabel).text()
    bars = card.findChild(ProbabilityBars)
    assert set(bars.probabilities) == {"no square", "square"} and sum(bars.probabilities.values()) == pytest.approx(1.0)
    for name in ("panelNotice", "analysisNotice"):
        notice = analysis.panel.findChild(QLabel, name)
        assert notice.text() == RESEARCH_NOTICE and notice.isVisibleTo(analysis.panel)
    overlay = window.state.overlay
    assert overlay is not None and overlay.data.shape == volume.shape and overlay.data.max() == pytest.approx(1.0)
    assert analysis.panel.overlay.map_combo.currentText() == "tiny_cxr \u00b7 Grad-CAM"
    assert colour_pixels(window.viewer.displayed_image()) > 0


def test_analyse_runs_in_a_worker_and_the_window_answers_meanwhile(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "slow_cxr")
    GatedNet.gate.clear()  # the model's forward now blocks until we open the gate
    window.actions["analyse"].trigger()
    qtbot.waitUntil(GatedNet.entered.is_set, timeout=RUN_TIMEOUT_MS)
    # the worker is stuck inside the model; the GUI thread still runs its event loop:
    fired = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: bool(fired), timeout=5000)
    qtbot.waitUntil(lambda: "slow_cxr" in analysis.panel.status.text(), timeout=5000)  # queued progress arrived
    assert analysis.running and analysis.panel.cancel_button.isEnabled() and not analysis.panel.analyse_button.isEnabled()
    before = window.viewer.displayed_image().copy()
    window.actions["preset_bone"].trigger()
    window.actions["zoom_in"].trigger()
    assert not np.array_equal(before, window.viewer.displayed_image()) and window.state.view_range is not None
    assert analysis.running and not window.actions["analyse"].isEnabled()
    with qtbot.waitSignal(analysis.runShown, timeout=RUN_TIMEOUT_MS):
        GatedNet.gate.set()
    assert analysis.run.results[("slow_cxr", "gradcam")].ok
    qtbot.waitUntil(lambda: not analysis.running, timeout=5000)
    assert analysis.panel.analyse_button.isEnabled()


def test_cancel_stops_lime_between_batches_and_shows_no_result(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "slow_cxr")
    analysis.panel.methods.set_selected(["lime"])
    GatedNet.gate.clear()
    assert analysis.analyse()
    qtbot.waitUntil(GatedNet.entered.is_set, timeout=RUN_TIMEOUT_MS)
    qtbot.mouseClick(analysis.panel.cancel_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(analysis.runEnded, timeout=RUN_TIMEOUT_MS):
        GatedNet.gate.set()
    # 1000 samples in batches of 32 would need ~30 forwards; it stopped right after the blocked one
    assert GatedNet.calls <= 3
    assert analysis.run is None and window.state.overlay is None
    assert "cancelled" in analysis.panel.status.text()
    assert analysis.panel.results.summary.text().startswith("Press Analyse")
    assert analysis.panel.analyse_button.isEnabled() and not analysis.panel.cancel_button.isEnabled()


def test_opacity_threshold_toggle_and_colormap_change_what_is_drawn(qtbot, app_window, square_models):
    window, analysis = app_window
    volume = radiograph_volume()
    show(qtbot, window, analysis, volume)
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    controls = analysis.panel.overlay
    controls.threshold_slider.setValue(0)
    controls.opacity_slider.setValue(0)
    grey = window.viewer.displayed_image().copy()
    assert colour_pixels(grey) == 0 and window.state.overlay.opacity == 0.0
    grabbed_grey = window.viewer.rendered_rgba()
    controls.opacity_slider.setValue(100)
    full = window.viewer.displayed_image().copy()
    assert colour_pixels(full) > 0.9 * full.shape[0] * full.shape[1]  # threshold 0: the map covers everything
    assert not np.array_equal(grabbed_grey, window.viewer.rendered_rgba())  # the screen changed, not just the array
    controls.opacity_slider.setValue(50)
    half = window.viewer.displayed_image().copy()
    assert 0 < np.abs(half.astype(int) - grey.astype(int)).mean() < np.abs(full.astype(int) - grey.astype(int)).mean()
    controls.threshold_slider.setValue(60)
    thresholded = window.viewer.displayed_image()
    heat = window.state.overlay.data[0]
    assert colour_pixels(thresholded) == int(np.count_nonzero(heat >= 0.6)) < colour_pixels(half)
    window.actions["overlay"].trigger()  # O: off
    assert colour_pixels(window.viewer.displayed_image()) == 0 and not controls.visible_check.isChecked()
    window.actions["overlay"].trigger()
    jet = window.viewer.displayed_image().copy()
    controls.colormap_combo.setCurrentText("inferno")
    assert window.state.overlay.colormap == "inferno" and not np.array_equal(jet, window.viewer.displayed_image())


@pytest.mark.parametrize(
    ("volume_kwargs", "reason"),
    [({"view": "LL"}, "not analysed: lateral view (LL)"), ({"rgb": True}, "not analysed: colour (RGB) image")],
)
def test_refused_input_shows_the_reason_instead_of_probabilities(qtbot, app_window, square_models, volume_kwargs, reason):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume(**volume_kwargs))
    assert analysis.panel.models.status.text().startswith(reason)  # every model refuses: said once
    assert analysis.panel.models.findChild(QLabel, "refusal_tiny_cxr") is None
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    assert analysis.panel.results.summary.text().startswith(reason)
    card = analysis.panel.results.card("tiny_cxr")
    assert card.findChild(QLabel, "refusal").text().startswith(reason)
    assert card.findChild(ProbabilityBars) is None and card.findChild(QLabel, "decision") is None
    assert window.state.overlay is None and not window.actions["export_png"].isEnabled()
    assert analysis.errors == []


def test_without_trained_weights_models_are_unavailable_and_analyse_says_why(qtbot, app_window, monkeypatch, tmp_path):
    from covidviewer.models.weights import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "no-weights"))
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    picker = analysis.panel.models
    assert picker.boxes and not any(box.isEnabled() for box in picker.boxes.values())
    assert "No trained weights" in picker.status.text()
    analyse_and_wait(qtbot, analysis)
    assert analysis.errors == []
    assert "no applicable model has trained weights" in analysis.panel.results.summary.text()
    unavailable = analysis.panel.results.card("dpn92_se").findChild(QLabel, "unavailable").text()
    assert "no trained weights installed" in unavailable and "python -m trainer fit dpn92_se" in unavailable


def test_exports_go_to_the_chosen_path_with_caption_and_never_over_the_input(qtbot, app_window, square_models, tmp_path):
    window, analysis = app_window
    image = np.zeros((300, 240), dtype=np.uint8)
    image[100:180, 60:140] = 255
    source = tmp_path / "input" / "chest.png"
    source.parent.mkdir()
    cv2.imwrite(str(source), image)
    original = source.read_bytes()
    show(qtbot, window, analysis, load_path(source))
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    out = tmp_path / "out"
    out.mkdir()
    with qtbot.waitSignal(analysis.exports.exported, timeout=RUN_TIMEOUT_MS) as written_png:
        assert analysis.export_png(out / "view.png") is not None  # encoded and written in a worker
    written = cv2.imread(str(written_png.args[0]))
    assert written.shape[1] == 240 and written.shape[0] > 300  # the caption band is burned in below
    band = written[300:]
    assert band.max() > 200 and (band[..., 2] > band[..., 1] + 60).any()  # white caption + red notice
    with qtbot.waitSignal(analysis.exports.exported, timeout=RUN_TIMEOUT_MS) as written_json:
        analysis.export_json(out / "predictions")
    assert written_json.args[0] == out / "predictions"
    doc = json.loads((out / "predictions").read_text())
    assert doc["input"] == str(source) and doc["notice"] == RESEARCH_NOTICE
    (entry,) = doc["models"]
    assert entry["model"] == "tiny_cxr" and entry["method"] == "gradcam" and len(entry["weights_sha256"]) == 64
    assert sum(entry["probabilities"].values()) == pytest.approx(1.0)
    assert {p.name for p in out.iterdir()} == {"view.png", "predictions"}
    assert analysis.export_png(source) is None and "is an input file" in analysis.errors[-1]
    assert source.read_bytes() == original and sorted(p.name for p in source.parent.iterdir()) == ["chest.png"]


def test_the_window_with_the_analysis_dock_opens_without_importing_torch(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from covidviewer.ui.main_window import MainWindow\n"
        "from covidviewer.ui.analysis import install_analysis\n"
        "window = MainWindow(); window.persist_settings = False; window.show()\n"
        "analysis = install_analysis(window)\n"
        "app.processEvents()\n"
        "assert analysis.dock.isVisible() and window.actions['analyse'].shortcut().toString() == 'Ctrl+R'\n"
        "print('torch' in sys.modules, 'covidviewer.models' in sys.modules)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}  # no user settings
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_a_failing_model_shows_its_error_and_the_others_still_answer(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    tick(analysis, "tiny_cxr", "broken_cxr")
    analyse_and_wait(qtbot, analysis)
    error = analysis.panel.results.card("broken_cxr").findChild(QLabel, "error").text()
    assert "simulated failure inside the network" in error
    assert analysis.panel.results.card("tiny_cxr").findChild(QLabel, "decision") is not None
    assert window.state.overlay is not None and analysis.run.status == "ok"


def test_a_worker_failure_is_reported_and_analyse_works_again(qtbot, app_window, square_models):
    window, analysis = app_window
    show(qtbot, window, analysis, radiograph_volume())
    from covidviewer.analysis.predictor_pool import default_predictor_factory

    def broken_factory(device, store, cache):
        raise OSError("simulated: the model store is unreadable")

    analysis.worker_tasks.predictors.factory = broken_factory
    analysis.worker_tasks.predictors.clear()
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    assert "simulated: the model store is unreadable" in analysis.errors[-1]
    assert "simulated" in analysis.panel.status.text() and "Traceback" in window.messages.toPlainText()
    assert analysis.panel.analyse_button.isEnabled() and window.actions["analyse"].isEnabled()
    analysis.worker_tasks.predictors.factory = default_predictor_factory
    analyse_and_wait(qtbot, analysis)
    assert analysis.run is not None and analysis.run.results[("tiny_cxr", "gradcam")].ok


def test_a_ct_slice_model_reads_the_shown_axial_slice_and_its_map_lands_there(qtbot, app_window, square_models):
    from analysis_support import chest_ct_volume

    window, analysis = app_window
    volume = chest_ct_volume()
    show(qtbot, window, analysis, volume)
    tick(analysis, "tiny_ctslice")
    window.state.slice_index = 14
    analyse_and_wait(qtbot, analysis)
    result = analysis.run.results[("tiny_ctslice", "gradcam")]
    assert result.ok and result.slice_index == 14
    data = window.state.overlay.data
    assert data.shape == volume.shape and data[14].max() == pytest.approx(1.0)
    assert np.delete(data, 14, axis=0).max() == 0.0
    assert "axial slice 15 only" in analysis.panel.map_note.text() and window.state.slice_index == 14
    assert "analysed slice 15" in analysis.panel.results.card("tiny_ctslice").findChild(QLabel, "analysedSlice").text()


def test_the_cascade_card_shows_both_stages(qtbot):
    from covidviewer.inference import ModelResult
    from covidviewer.ui.analysis.results_view import ResultsView
    from covidviewer.analysis.run import AnalysisRun

    stage1 = ModelResult("seme_resnet50", "ok", version="1", classes=("normal", "bacterial", "viral"),
                         probabilities={"normal": 0.1, "bacterial": 0.2, "viral": 0.7}, label="viral")
    stage2 = ModelResult("seme_densenet169", "ok", version="1", classes=("COVID-19", "viral (non-COVID)"),
                         probabilities={"COVID-19": 0.8, "viral (non-COVID)": 0.2}, label="COVID-19")
    cascade = ModelResult("cascade_semenet", "ok", version="1", label="COVID-19", weights_sha256="ab" * 32,
                          probabilities={"normal": 0.1, "bacterial": 0.2, "viral (non-COVID)": 0.14, "COVID-19": 0.56},
                          stages=[stage1, stage2], device="cpu")
    run = AnalysisRun("hash", (1, 8, 8), results={("cascade_semenet", "gradcam"): cascade})
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_run(run)
    card = view.card("cascade_semenet")
    assert len(card.findChildren(ProbabilityBars)) == 3
    assert card.findChild(QLabel, "stage1").text().startswith("Stage 1: seme_resnet50 v1 \u2192 viral (70 %)")
    assert card.findChild(QLabel, "stage2").text().startswith("Stage 2: seme_densenet169 v1 \u2192 COVID-19 (80 %)")
    assert "abababababab" in card.findChild(QLabel, "details").text()


def test_the_dock_grows_to_its_results_so_no_probability_is_cut_off(qtbot, app_window):
    """The shipped cascade's long class names need more than the dock's default width; the panel's
    horizontal scroll bar is off, so without growing the dock the percentages fall off its edge."""
    from covidviewer.inference import ModelResult
    from covidviewer.analysis.run import AnalysisRun

    window, analysis = app_window
    classes = ("normal", "bacterial pneumonia", "viral pneumonia (non-COVID)", "COVID-19")
    result = ModelResult("cascade_semenet", "ok", version="1", label="COVID-19", weights_sha256="ab" * 32, classes=classes,
                         probabilities=dict(zip(classes, (0.11, 0.21, 0.11, 0.57))), device="cpu")
    panel = analysis.panel
    panel.results.show_run(AnalysisRun("hash", (1, 8, 8), results={("cascade_semenet", "gradcam"): result}))
    qtbot.waitUntil(lambda: panel.widget().width() <= panel.viewport().width(), timeout=5000)
    assert analysis.dock.width() < window.width() // 2  # grown, not taking over the image


def test_a_real_small_field_of_view_ct_is_refused_with_the_gate_reason(qtbot, app_window, monkeypatch, tmp_path):
    from covidviewer.models.weights import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "no-weights"))
    window, analysis = app_window
    show(qtbot, window, analysis, load_path(sample_paths()["ct"]))  # pydicom CT_small: 128 x 0.66 mm
    refusal = analysis.panel.models.status.text()
    assert refusal.startswith("not analysed: field of view 85 mm is smaller than a chest")
    analyse_and_wait(qtbot, analysis)
    assert analysis.panel.results.summary.text() == refusal
    assert analysis.panel.results.card("dresunet").findChild(ProbabilityBars) is None
    assert "darnet" not in [card.result.model for card in analysis.panel.results.cards]  # not for a single slice


def test_models_are_listed_even_when_the_dock_is_hidden_behind_a_tab(qtbot, square_models):
    # Regression: listing waited for the dock's visibilityChanged(True), which tabbed docks may never emit.
    from covidviewer.ui.analysis import install_analysis
    from covidviewer.ui.main_window import MainWindow
    from covidviewer.ui.settings import ViewerSettings

    window = MainWindow(ViewerSettings())
    window.persist_settings = False
    qtbot.addWidget(window)
    analysis = install_analysis(window)
    window.metadata_dock.raise_()
    with qtbot.waitSignal(analysis.modelsListed, timeout=RUN_TIMEOUT_MS):
        window.state.set_volume(radiograph_volume())
    assert "tiny_cxr" in analysis.panel.models.boxes
    analysis.shutdown()


def test_refusals_that_differ_between_models_are_shown_under_each_model(qtbot, app_window, square_models):
    from analysis_support import chest_ct_volume

    window, analysis = app_window
    show(qtbot, window, analysis, chest_ct_volume(shape=(10, 64, 64), spacing=(12.0, 5.0, 5.0)))
    picker = analysis.panel.models
    darnet = picker.findChild(QLabel, "refusal_tiny_ct3d").text()
    assert darnet.startswith("not analysed: only 10 slice(s)")
    assert picker.findChild(QLabel, "refusal_tiny_ctslice") is None  # a CT-slice model accepts this series
    assert not picker.status.text().startswith("not analysed")


def test_a_flagged_result_is_dimmed_and_says_so_and_the_decision_names_its_threshold(qtbot):
    from covidviewer.inference import ModelResult
    from covidviewer.ui.analysis.results_view import ResultsView
    from covidviewer.analysis.run import AnalysisRun

    probs = {"COVID-19": 0.35, "normal": 0.45, "bacterial pneumonia": 0.1, "viral pneumonia": 0.1}
    flagged = ModelResult("dpn92_se", "ok", version="1", classes=tuple(probs), probabilities=probs, label="COVID-19",
                          calibrated=True, decision="COVID-19", ood_score=42.0, ood_flag=True,
                          threshold="COVID-19 p 0.35 \u2265 operating threshold 0.30 (validation: sensitivity 0.82)")
    plain = ModelResult("vgg16_ga", "ok", version="1", classes=("normal", "COVID-19"), label="normal",
                        probabilities={"normal": 0.7, "COVID-19": 0.3})
    run = AnalysisRun("hash", (1, 8, 8), results={("dpn92_se", "none"): flagged, ("vgg16_ga", "none"): plain})
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_run(run)
    card = view.card("dpn92_se")
    assert card.findChild(ProbabilityBars).dimmed
    assert "unlike the images this model was trained on" in card.findChild(QLabel, "oodFlag").text()
    assert "operating threshold 0.30" in card.findChild(QLabel, "threshold").text()
    assert card.findChild(QLabel, "decision").text() == "Model's answer: COVID-19 (35 %, calibrated)"
    other = view.card("vgg16_ga")
    assert not other.findChild(ProbabilityBars).dimmed and other.findChild(QLabel, "oodFlag") is None
    assert other.findChild(QLabel, "threshold") is None


def test_the_cascade_card_says_the_thresholds_answer_not_the_papers_rule(qtbot):
    """The paper's rule says normal, p(COVID-19) 0.30 reaches the cascade's threshold: the card, the compare
    caption and an export caption say COVID-19, as the decision line and ``predict`` do."""
    from covidviewer.analysis.run import AnalysisRun
    from covidviewer.inference import ModelResult
    from covidviewer.ui.analysis.results_view import ResultsView

    cascade = ModelResult("cascade_semenet", "ok", version="1", label="normal", decision="COVID-19",
                          threshold="COVID-19 p 0.30 \u2265 operating threshold 0.20", weights_sha256="ab" * 32,
                          probabilities={"normal": 0.59, "bacterial": 0.05, "viral (non-COVID)": 0.06, "COVID-19": 0.30})
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_run(AnalysisRun("hash", (1, 8, 8), results={("cascade_semenet", "gradcam"): cascade}))
    card = view.card("cascade_semenet")
    assert card.findChild(QLabel, "decision").text().startswith("Model's answer: COVID-19 (30 %")
    assert card.findChild(ProbabilityBars).decision == "COVID-19"
