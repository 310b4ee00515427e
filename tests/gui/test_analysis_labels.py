"""No clipped text in the Analysis results or the compare headers at 1024x768, and the panel does not
widen after a run (issue 17, item 4): long class names ("viral pneumonia (non-COVID)") wrap onto a
line of their own, labels wrap, compare headers wrap and carry their text as a tooltip."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_support import chest_ct_volume
from PySide6.QtWidgets import QApplication, QLabel

from covidviewer.analysis.run import AnalysisRun
from covidviewer.explain.base import Explanation
from covidviewer.inference import ModelResult
from covidviewer.ui.analysis import install_analysis
from covidviewer.ui.analysis.compare import CompareWindow
from covidviewer.ui.analysis.results_view import ProbabilityBars
from covidviewer.ui.controller import ViewerController
from covidviewer.ui.main_window import MainWindow
from covidviewer.ui.settings import ViewerSettings

pytestmark = pytest.mark.gui
CLASSES = ("normal", "bacterial pneumonia", "viral pneumonia (non-COVID)", "COVID-19")


def cascade_run(shape=(1, 64, 48)) -> AnalysisRun:
    """The shipped cascade's answer with both stages, as one run (no model needed)."""
    heat = np.zeros(shape[1:], np.float32)
    heat[10:40, 8:40] = 1.0

    def result(model, classes, probabilities, label, stages=()):
        explanation = Explanation("gradcam", heat, 0, analysed_box=(5, 0, 60, 48), analysed_region="lung box + 8%")
        return ModelResult(model, "ok", version="1", label=label, weights_sha256="ab" * 32, classes=classes,
                           probabilities=dict(zip(classes, probabilities)), device="cpu", explanation=explanation,
                           stages=list(stages), threshold="cascade rule: stage 1, then stage 2 for viral cases")

    stage1 = result("seme_resnet50", ("normal", "bacterial pneumonia", "viral pneumonia"), (0.2, 0.1, 0.7), "viral pneumonia")
    stage2 = result("seme_densenet169", ("COVID-19", "viral pneumonia (non-COVID)"), (0.21, 0.79), "viral pneumonia (non-COVID)")
    cascade = result("cascade_semenet", CLASSES, (0.2, 0.1, 0.55, 0.15), "viral pneumonia (non-COVID)", (stage1, stage2))
    two = ("non-COVID", "COVID-19")
    dresunet = result("dresunet", two, (0.62, 0.38), "non-COVID")
    return AnalysisRun("hash", shape, results={("cascade_semenet", "gradcam"): cascade, ("dresunet", "gradcam"): dresunet,
                                               ("cascade_semenet", "gradcampp"): cascade, ("dresunet", "gradcampp"): dresunet})


def clipped_labels(root) -> list[str]:
    """Visible labels whose text does not fit: single-line labels narrower than their text, wrapped
    labels shorter than the height their text needs at their width."""
    out = []
    for label in root.findChildren(QLabel):
        if not label.isVisibleTo(root) or not label.text() or label.width() <= 0:
            continue
        if label.wordWrap():
            if label.heightForWidth(label.width()) > label.height() + 1:
                out.append(label.text())
        elif label.sizeHint().width() > label.width() + 1:
            out.append(label.text())
    return out


def test_results_labels_wrap_at_1024x768_and_the_panel_keeps_its_width(qtbot):
    window = MainWindow(ViewerSettings())
    qtbot.addWidget(window)
    controller = ViewerController(window)
    analysis = install_analysis(window, controller, auto_list_models=False)
    window.resize(1024, 768)
    window.show()
    qtbot.waitExposed(window)
    try:
        window.state.set_volume(chest_ct_volume((1, 64, 48)))
        QApplication.processEvents()
        panel = analysis.panel
        dock_before, image_before = analysis.dock.width(), window.viewer.canvas.width()
        run = cascade_run()
        panel.results.show_run(run)
        keys = list(run.maps())
        panel.overlay.set_maps([(k, k.label()) for k in keys], keys[1])  # "cascade_semenet / seme_resnet50 · Grad-CAM"
        panel.set_have_maps(True, True)  # as after a run: the map controls show
        for _ in range(5):
            QApplication.processEvents()
        assert analysis.dock.width() <= dock_before + 1 and window.viewer.canvas.width() >= image_before - 1
        assert panel.widget().width() <= panel.viewport().width()  # nothing runs off the right edge
        bars = panel.results.findChildren(ProbabilityBars)
        assert len(bars) == 4  # the cascade, its two stages, dresunet
        for bar in bars:
            assert bar.elided_names() == [], list(bar.probabilities)
            assert bar.height() >= bar.heightForWidth(bar.width())  # a stacked list got its two lines per class
        assert any(bar.stacked() for bar in bars)  # "viral pneumonia (non-COVID)" has a line of its own
        assert clipped_labels(panel.results) == []
        combo = panel.overlay.map_combo
        assert combo.toolTip() == keys[1].label() and combo.view().minimumWidth() > combo.fontMetrics().horizontalAdvance(keys[1].label())
    finally:
        window.close()
        controller.shutdown()
        analysis.shutdown()


def test_compare_headers_and_captions_wrap_with_a_tooltip(qtbot):
    run = cascade_run()
    volume = chest_ct_volume((1, 64, 48))
    compare = CompareWindow()
    qtbot.addWidget(compare)
    compare.resize(1024, 768)
    compare.show_run(run, volume)
    compare.show()
    qtbot.waitExposed(compare)
    try:
        headers = [w for w in compare.grid_host.findChildren(QLabel) if w.objectName().startswith("compareHeader_")]
        assert {h.toolTip() for h in headers} == {"Grad-CAM", "Grad-CAM++"}
        for pane in compare.panes:
            caption = pane.view.caption
            assert caption.toolTip().startswith(pane.key.model) and caption.width() >= caption.minimumSizeHint().width() > 0
        # each pane's W/L line may be cut (slice_view.py: panes stay equal); the corner text shows the same
        assert [t for t in clipped_labels(compare.grid_host) if not t.startswith("CT image")] == []
    finally:
        compare.close()
        compare.wait_agreement()


def test_the_image_kind_line_says_why_the_gate_overruled_the_model(qtbot):
    """A "CT slice" with nothing the size of a body in it: the viewer's line gives the verdict and the gate's reason."""
    from covidviewer.inference.gate import CT_SLICE_KIND, ImageKind
    from covidviewer.ui.analysis.results_view import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    kind = ImageKind(CT_SLICE_KIND, 0.97, {CT_SLICE_KIND: 0.97}, body_share=0.002)
    view.show_run(AnalysisRun("hash", (1, 64, 48), status="refused", reason="not a chest image", image_kind=kind))
    assert view.image_kind.text() == f"Image kind: other ({kind.overruled})"
    assert "an axial CT slice (0.97), but nothing in it is the size of a body" in view.image_kind.text()
    assert "covers 0.2% of the image" in view.image_kind.text()


@pytest.mark.parametrize("p_mirrored, says, link", [(0.99, "; read mirrored back (mirror check 0.99)", True),
                                                    (0.7, "; may be mirrored (mirror check 0.70)", False), (0.1, "", False)])
def test_the_image_kind_line_says_when_a_film_was_read_mirrored_back(qtbot, p_mirrored, says, link):
    from covidviewer.inference.film_hanging import FilmReading
    from covidviewer.inference.film_mirror import FilmSide
    from covidviewer.inference.gate import FRONTAL, ImageKind
    from covidviewer.ui.analysis.results_view import HANG_LINK, ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    kind = ImageKind(FRONTAL, 1.0, {FRONTAL: 1.0})
    reading = FilmReading(side=FilmSide(p_mirrored))
    view.show_run(AnalysisRun("hash", (1, 64, 48), image_kind=kind, hanging=reading))
    text = view.image_kind.text()
    assert text.startswith(f"Image kind: {FRONTAL} (image-kind model 1.00){says}")
    assert (f"href='{HANG_LINK}'>show it so</a>" in text) == link
    if link:  # the link asks for the film as the models read it
        with qtbot.waitSignal(view.hangAsRead) as asked:
            view.image_kind.linkActivated.emit(HANG_LINK)
        assert asked.args == [reading.hanging]


@pytest.mark.parametrize("p_mirrored, link", [(0.1, False), (0.99, True)])
def test_a_film_read_as_grey_is_said_and_shown_in_its_colours(qtbot, p_mirrored, link):
    """A colour file with a mild cast: the models read its luma, the viewer keeps its colours, so "show it so" is
    offered only for what the display can show (here a mirror)."""
    from covidviewer.inference.film_hanging import FilmReading
    from covidviewer.inference.film_mirror import FilmSide
    from covidviewer.inference.gate import FRONTAL, ImageKind
    from covidviewer.ui.analysis.results_view import HANG_LINK, ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    kind = ImageKind(FRONTAL, 1.0, {FRONTAL: 1.0})
    view.show_run(AnalysisRun("hash", (1, 64, 48), image_kind=kind, hanging=FilmReading(side=FilmSide(p_mirrored), grey=True)))
    text = view.image_kind.text()
    assert text.startswith(f"Image kind: {FRONTAL} (image-kind model 1.00); in colour with a mild cast: read as grey")
    assert (f"href='{HANG_LINK}'>show it so</a>" in text) == link
    if link:
        with qtbot.waitSignal(view.hangAsRead) as asked:
            view.image_kind.linkActivated.emit(HANG_LINK)
        assert asked.args[0].mirrored and not asked.args[0].grey


def test_the_consensus_answer_stands_above_the_cards_with_its_figures_behind_it(qtbot):
    from covidviewer.inference.consensus import Consensus
    from covidviewer.ui.analysis.results_view import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    consensus = Consensus(("vgg16_ga", "small_cnn"), 0.62, 0.35, "COVID-19", figures=["trained without RSNA: 18%"])
    view.show_run(AnalysisRun("hash", (1, 64, 48), consensus=consensus))
    label = view.findChild(QLabel, "consensusAnswer")
    assert label.text() == "Consensus of vgg16_ga + small_cnn: COVID-19 (mean p(COVID-19) 62 %, threshold 35 %)"
    assert label.toolTip() == "trained without RSNA: 18%"
    view.show_run(AnalysisRun("hash", (1, 64, 48)))  # a run without one: the line goes
    assert view.findChild(QLabel, "consensusAnswer") is None


def test_the_consensus_notes_read_as_a_models_warnings_do(qtbot):
    from covidviewer.inference.consensus import Consensus
    from covidviewer.ui.analysis.results_view import ResultsView
    from covidviewer.ui.analysis.warning_note import WarningNote

    view = ResultsView()
    qtbot.addWidget(view)
    ap_note = ("view check: the file says this is an AP film; networks of its members averaged, trained without NIH, "
               "called 36% of that source's 97 AP normal films COVID-19 at its threshold, against 9% of its 53 PA ones; "
               "its COVID-19 answer may reflect the view, not the lungs: read it beside the other models")
    consensus = Consensus(("vgg16_ga", "small_cnn"), 0.60, 0.39, "COVID-19", notes=[ap_note])
    view.show_run(AnalysisRun("hash", (1, 64, 48), consensus=consensus))
    assert view.findChild(QLabel, "consensusAnswer").text().endswith("threshold 39 %)")  # the answer alone, bold
    note = view.findChild(WarningNote)
    assert note.text().startswith("\u26a0 <b>view check</b>: its COVID-19 answer may reflect the view") and "36%" not in note.text()
    note.toggle()
    assert "called 36% of that source" in note.text() and "97 AP normal films" in note.text()
