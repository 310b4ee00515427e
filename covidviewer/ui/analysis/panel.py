"""The Analysis dock: models, methods, device, Analyse / Cancel with progress, results, overlay
controls, the depth-attention strip, and the compare / export buttons.

Widgets only: the ``AnalysisController`` fills it and reacts to its buttons.
"""
from __future__ import annotations

import numpy as np

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from covidviewer import RESEARCH_NOTICE
from covidviewer.analysis.run import DEVICES
from covidviewer.explain import LimeSettings
from covidviewer.ui.analysis.overlay_controls import OverlayControls
from covidviewer.ui.analysis.picker import MethodPicker, ModelPicker
from covidviewer.ui.analysis.results_view import ResultsView
from covidviewer.ui.analysis.slice_strip import SliceImportanceStrip
from covidviewer.viewer.viewer_state import ViewerState

# min, max, default: at most 1000 as the DPN-SENet paper; by default LIME stops sooner, once its top
# superpixels hold (LimeSettings, bench/bench_lime.py); untick "stop when steady" for all of them
LIME_SAMPLES = (50, 5000, 1000)
_LIME = LimeSettings()


def _group(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 4, 6, 6)
    for widget in widgets:
        layout.addWidget(widget)
    return box


class AnalysisPanel(QScrollArea):
    """Scrollable dock content. Public children: ``models``, ``methods``, ``device_combo``,
    ``lime_samples``, ``lime_early_stop``, ``lime_lungs``, ``analyse_button``, ``cancel_button``, ``progress``,
    ``status``, ``results``, ``overlay``, ``strip``, ``map_note``, ``compare_button``, ``export_png_button``,
    ``export_json_button``.
    """

    def __init__(self, viewer_state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("analysisPanel")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.setWidget(body)

        notice = QLabel(RESEARCH_NOTICE)
        notice.setObjectName("panelNotice")
        notice.setStyleSheet("color: #c62828; font-weight: bold")
        self.models = ModelPicker()
        self.methods = MethodPicker()
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceChoice")
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("auto: CUDA GPU, else Apple GPU, else CPU")
        self.lime_samples = QSpinBox()
        self.lime_samples.setObjectName("limeSamples")
        self.lime_samples.setRange(LIME_SAMPLES[0], LIME_SAMPLES[1])
        self.lime_samples.setSingleStep(100)
        self.lime_samples.setValue(LIME_SAMPLES[2])
        self.lime_samples.setToolTip("Most perturbed images LIME scores: more gives a steadier map but takes longer\n"
                                     "(1000 is the paper's setting)")
        self.lime_early_stop = QCheckBox("stop when steady")
        self.lime_early_stop.setObjectName("limeEarlyStop")
        self.lime_early_stop.setChecked(True)
        self.lime_early_stop.setToolTip(f"Stop once the same {_LIME.stable_top} superpixels have led for "
                                        f"{_LIME.stable_for} samples\n"
                                        "(the status says how many were used); untick for all of them, as in the paper")
        self.lime_lungs = QCheckBox("superpixels inside the lungs")
        self.lime_lungs.setObjectName("limeLungs")
        self.lime_lungs.setChecked(True)
        self.lime_lungs.setToolTip("Superpixels only inside the lung U-Net's mask; the rest of the image is one\n"
                                   "segment that is always kept (fewer superpixels: a steady answer sooner)")
        lime_row = QWidget()
        lime_layout = QHBoxLayout(lime_row)
        lime_layout.setContentsMargins(0, 0, 0, 0)
        lime_layout.addWidget(self.lime_samples)
        lime_layout.addWidget(self.lime_early_stop)
        options = QWidget()
        form = QFormLayout(options)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Device", self.device_combo)
        form.addRow("LIME samples", lime_row)
        form.addRow("", self.lime_lungs)
        self.whole_series = QCheckBox("whole series: score every lung slice")
        self.whole_series.setObjectName("wholeSeries")
        self.whole_series.setChecked(True)
        self.whole_series.setToolTip("On a CT series, CT-slice models also score every slice that holds lung and give\n"
                                     "one answer for the series (the rule is on the model's card)")
        form.addRow("CT series", self.whole_series)
        self.series_form_row = form.rowCount() - 1
        self.date_check = QCheckBox("no COVID-19 answer before Dec 2019")
        self.date_check.setObjectName("dateCheck")
        self.date_check.setChecked(True)
        self.date_check.setToolTip("An image whose DICOM date is before the first COVID-19 cases gets the most probable\n"
                                   "other class as its answer, with a warning. Untick for de-identified files whose\n"
                                   "dates were shifted without saying so.")
        form.addRow("Image date", self.date_check)
        self._options_form = form

        self.analyse_button = QPushButton("Analyse")
        self.analyse_button.setObjectName("analyseButton")
        self.analyse_button.setDefault(True)
        self.analyse_button.setToolTip("Run the ticked models and methods on the shown image (Ctrl+R)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("analysisCancel")
        self.cancel_button.setEnabled(False)
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.analyse_button, 1)
        row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setObjectName("analysisProgress")
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel()
        self.status.setObjectName("analysisStatus")
        self.status.setWordWrap(True)

        self.results = ResultsView()
        self.overlay = OverlayControls()
        self.map_note = QLabel()
        self.map_note.setObjectName("mapNote")
        self.map_note.setWordWrap(True)
        self.map_note.hide()
        self.strip = SliceImportanceStrip(viewer_state)
        self.strip.hide()
        self.series_note = QLabel()
        self.series_note.setObjectName("seriesAnswer")
        self.series_note.setWordWrap(True)
        self.series_strip = SliceImportanceStrip(viewer_state)
        self.series_group = _group("Whole series", self.series_note, self.series_strip)
        self.series_group.hide()
        self.overlay_group = _group("Attention map", self.overlay, self.map_note, self.strip)
        self.overlay_group.hide()  # shown with the first map (its colorbar loads the colour tables)
        self.compare_button = QPushButton("Compare\u2026")
        self.compare_button.setObjectName("compareButton")
        self.compare_button.setToolTip("All maps side by side in linked panes, with agreement numbers (Ctrl+Shift+R)")
        self.export_png_button = QPushButton("Export PNG\u2026")
        self.export_png_button.setObjectName("exportPngButton")
        self.export_json_button = QPushButton("Export JSON\u2026")
        self.export_json_button.setObjectName("exportJsonButton")
        tools = QWidget()
        tools_row = QHBoxLayout(tools)
        tools_row.setContentsMargins(0, 0, 0, 0)
        for button in (self.compare_button, self.export_png_button, self.export_json_button):
            button.setEnabled(False)
            tools_row.addWidget(button)

        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(notice)
        layout.addWidget(_group("Models", self.models))
        layout.addWidget(_group("Attention method", self.methods))
        layout.addWidget(options)
        layout.addWidget(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.results_group = _group("Results", self.results)
        layout.addWidget(self.results_group)
        layout.addWidget(self.series_group)
        layout.addWidget(self.overlay_group)
        layout.addWidget(tools)
        layout.addStretch(1)
        body.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:
        """As wide as the content needs: with the horizontal scroll bar off, a narrower dock would cut
        off probabilities and buttons at its right edge (a scroll area's own hint ignores its content)."""
        hint = super().minimumSizeHint()
        content = self.widget().minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(max(hint.width(), content), hint.height())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # new results may need more width: let the dock grow
        return super().eventFilter(watched, event)

    def set_running(self, running: bool, message: str = "") -> None:
        """Busy look while a worker runs: Analyse off, Cancel on, a moving progress bar."""
        self.analyse_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
        self.status.setStyleSheet("")
        self.status.setText(message)

    def show_progress(self, done: int, total: int, message: str) -> None:
        """Progress from the worker: ``done`` of ``total`` steps (0 total: busy) and its message."""
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(min(done, total) if total else 0)
        self.status.setText(message)

    def set_status(self, text: str, level: str = "info") -> None:
        """One line under the buttons; level "info", "warning" or "error"."""
        styles = {"info": "", "warning": "color: #b35900", "error": "color: #c62828"}
        self.status.setStyleSheet(styles[level])
        self.status.setText(text)

    def offer_whole_series(self, offered: bool) -> None:
        """Show the whole-series choice only for a CT series (several slices)."""
        self._options_form.setRowVisible(self.series_form_row, offered)

    def show_series(self, scans: list) -> None:
        """Each CT-slice model's series answer, and the first one's per-slice scores as a strip
        (click a bar to go to that slice); hidden without any."""
        if not scans:
            self.series_group.hide()
            self.series_strip.show_importance(None, None)
            return
        self.series_note.setText("\n".join(scan.describe() for scan in scans))
        first = next((scan for scan in scans if scan.status == "ok"), None)
        if first is None:
            self.series_strip.show_importance(None, None)
        else:
            scores = np.nan_to_num(first.slice_scores, nan=0.0)
            self.series_strip.show_importance(scores, first.peak_slice,
                                              f"{first.positive_class} probability per slice \u2014 {first.model}")
        self.series_group.show()

    def set_have_maps(self, have_maps: bool, have_results: bool) -> None:
        """Show the map controls and enable compare / export once there is something to use."""
        self.overlay_group.setVisible(have_maps)
        self.compare_button.setEnabled(have_maps)
        self.export_png_button.setEnabled(have_maps)
        self.export_json_button.setEnabled(have_results)
