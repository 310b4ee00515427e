"""Compare window: a grid of panes (rows = models, columns = methods) on the same image, linked
pan / zoom / slice / window-level, one shared colour scale, a caption per pane, and the agreement
numbers under the grid (share of attention in the lungs, top-20% IoU between panes).

The grid shows every map of every run of the shown image (``RunHistory``): Grad-CAM from one run
and LIME from another side by side without re-running. Esc and Ctrl+W close it.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QSizePolicy,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from covidviewer import RESEARCH_NOTICE
from covidviewer.analysis.agreement import Agreement, PaneMap, compute_agreement
from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.methods import method_label
from covidviewer.analysis.run import AnalysisRun
from covidviewer.analysis.run_history import RunHistory
from covidviewer.ui.analysis.captioned_image import grid_image, pane_image, result_caption
from covidviewer.ui.analysis.overlay_controls import OverlayControls, OverlaySettings
from covidviewer.ui.analysis.region_outline import RegionOutline
from covidviewer.ui.slice_view import SliceView
from covidviewer.ui.tasks import Task
from covidviewer.viewer.linking import link_states
from covidviewer.viewer.viewer_state import ViewerState

# display: the panes show the image turned, mirrored and inverted as the main view does
LINKED_FIELDS = ("plane", "slice", "window", "view_range", "display")
GRID_BLANK = 64
MAX_TABLE_ROWS = 6  # agreement rows visible without scrolling


class ComparePane:
    """One grid cell: a compact SliceView with its map key, result and caption."""

    def __init__(self, key: MapKey, result, view: SliceView):
        self.key, self.result, self.view = key, result, view
        self.outline = RegionOutline(view)

    @property
    def state(self) -> ViewerState:
        """The pane's ViewerState (linked with the other panes)."""
        return self.view.state

    def caption_lines(self) -> list[str]:
        """Caption of an exported pane: model, version, method, slice, decision, weights SHA."""
        state = self.state
        where = f"slice {state.slice_number}/{state.n_slices}" if state.n_slices > 1 else ""
        return result_caption(self.key, self.result, where)


class CompareWindow(QWidget):
    """Top-level window; ``show_history(history, volume, main_state)`` (re)builds the grid from
    every run of the image, ``show_run(run, ...)`` from one run. Esc and Ctrl+W close it.

    Signal ``agreementReady(Agreement)`` when the numbers under the grid are in (computed in a worker).
    """

    agreementReady = Signal(object)

    def __init__(self, settings: OverlaySettings | None = None, parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("compareWindow")
        self.setWindowTitle(f"CovidViewer \u2014 compare attention maps \u2014 {RESEARCH_NOTICE}")
        self.panes: list[ComparePane] = []
        self.link = None
        self.agreement: Agreement | None = None
        self._agreement_task: Task | None = None  # the current grid's; older ones may still be stopping
        self._running: set[Task] = set()
        self.history = RunHistory()
        self.models: list[str] = []
        self.methods: list[str] = []
        self._main_state: ViewerState | None = None  # whose rotation / mirror / inversion the panes follow

        self.overlay = OverlayControls(settings, map_choice=False)
        self.overlay.changed.connect(self._apply_overlay)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("compareSlice")
        self.slider.valueChanged.connect(self._on_slider)
        self.slice_label = QLabel()
        self.export_button = QPushButton("Export grid PNG\u2026")
        self.export_button.setObjectName("exportGridButton")
        self.pane_combo = QComboBox()
        self.pane_combo.setObjectName("comparePaneChoice")
        self.export_pane_button = QPushButton("Export pane PNG\u2026")
        self.export_pane_button.setObjectName("exportPaneButton")
        notice = QLabel(RESEARCH_NOTICE)
        notice.setStyleSheet("color: #c62828; font-weight: bold")

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.table = QTableWidget()
        self.table.setObjectName("agreementTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.agreement_note = QLabel()
        self.agreement_note.setWordWrap(True)
        self.agreement_note.setObjectName("agreementNote")
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(QLabel("<b>Agreement</b>"))
        bottom_layout.addWidget(self.table, 1)
        bottom_layout.addWidget(self.agreement_note)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.grid_host)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)

        side = QWidget()
        side.setMaximumWidth(300)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(notice)
        side_layout.addWidget(QLabel("Shared colour scale (all panes)"))
        side_layout.addWidget(self.overlay)
        side_layout.addWidget(self.slice_label)
        side_layout.addWidget(self.slider)
        side_layout.addWidget(self.export_button)
        side_layout.addWidget(self.pane_combo)
        side_layout.addWidget(self.export_pane_button)
        side_layout.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter, 1)
        layout.addWidget(side)
        self.resize(1300, 860)
        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close, context=Qt.ShortcutContext.WindowShortcut)

    # ------------------------------------------------------------------ building
    def show_run(self, run: AnalysisRun, volume, main_state: ViewerState | None = None) -> None:
        """The grid of ``run``'s maps alone."""
        history = RunHistory()
        history.add(run, volume)
        self.show_history(history, volume, main_state)

    def show_history(self, history: RunHistory, volume, main_state: ViewerState | None = None) -> None:
        """One pane per top-level map of every run in ``history``: rows = models, columns = methods;
        with one method the models sit side by side (portrait radiographs in a wide window)."""
        self._clear_panes()
        self.history = history
        entries = history.maps()
        maps = {key: result for key, (_run, result) in entries.items()}
        models = self.models = list(dict.fromkeys(k.model for k in maps))
        methods = self.methods = list(dict.fromkeys(k.method for k in maps))
        side_by_side = self._side_by_side
        span = len(models) if side_by_side else 1  # one method: its header spans the row of models
        for c, method in enumerate(methods):
            header = _wrapping_label(f"<b>{method_label(method, short=False)}</b>", method_label(method, short=False))
            header.setObjectName(f"compareHeader_{method}")
            header.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(header, 0, c, 1, span)
        settings = self.overlay.settings
        for key, result in maps.items():
            view = SliceView(ViewerState(), show_controls=False)
            view.setObjectName(f"pane_{key.model}_{key.method}")
            window = main_state.window if main_state is not None and main_state.volume is volume else None
            view.state.set_volume(volume, window=window)
            view.set_overlay(history.overlay(key, volume.shape), **settings.as_kwargs())
            pane = ComparePane(key, result, view)
            explanation = result.explanation
            if explanation is not None and not explanation.covers_whole_image():
                pane.outline.set_region(explanation.analysed_box, result.slice_index, explanation.analysed_region)
            caption = f"{key.model} \u2192 {result.answer} ({100 * result.probabilities.get(result.answer, 0):.0f} %)"
            view.set_caption(caption)
            view.caption.setToolTip(caption)
            view.caption.setWordWrap(True)  # a narrow pane wraps the caption instead of cutting it
            row, column = models.index(key.model), methods.index(key.method)
            self.grid.addWidget(view, *((1, row) if side_by_side else (1 + row, column)))
            self.panes.append(pane)
            self.pane_combo.addItem(self._pane_label(pane))
        for r in range(1 if side_by_side else len(models)):
            self.grid.setRowStretch(1 + r, 1)
        for c in range(self._columns):
            self.grid.setColumnStretch(c, 1)  # equal panes, so linked zoom shows the same scale in each
        if self.panes:
            first = self.panes[0].state
            if main_state is not None and main_state.volume is volume:
                first.plane = main_state.plane if (main_state.plane == "axial" or first.can_reformat) else "axial"
                first.slice_index = self._start_slice(main_state)
                first.set_display(main_state.display)
                self._main_state = main_state
                main_state.events.display.connect(self._follow_main_display)
                main_state.events.shutter.connect(self._follow_main_layers)
                main_state.events.overlay_planes.connect(self._follow_main_layers)
                self._follow_main_layers()
            self.link = link_states([p.state for p in self.panes], LINKED_FIELDS)
            first.events.slice.connect(self._on_pane_slice)
            first.events.plane.connect(self._on_pane_slice)
            self._on_pane_slice()
        self._start_agreement(history)

    def _follow_main_display(self, display) -> None:
        """The reader turned, mirrored or inverted the main view: the panes of its image follow."""
        main = self._main_state
        if self.panes and main is not None and main.volume is self.panes[0].state.volume:
            self.panes[0].state.set_display(display)  # the link passes it on to the other panes

    def _follow_main_layers(self, _shown: bool = True) -> None:
        """The reader showed or hid the file's display shutter or overlay planes: every pane does the same."""
        main = self._main_state
        if main is None:
            return
        for pane in self.panes:
            pane.state.shutter_shown = main.shutter_shown
            pane.state.overlay_planes_shown = main.overlay_planes_shown

    def _start_slice(self, main_state: ViewerState) -> int:
        """The main view's slice, or a CT-slice model's analysed slice when a pane has one."""
        analysed = next((p.result.slice_index for p in self.panes if p.result.slice_index is not None), None)
        if analysed is not None and main_state.plane == "axial":
            return analysed
        return main_state.slice_index

    def clear(self) -> None:
        """Remove every pane and forget the runs (another image was opened)."""
        self._clear_panes()
        self.history = RunHistory()

    def _clear_panes(self) -> None:
        """Remove every pane, unlink them and stop a running agreement worker."""
        if self._agreement_task is not None:
            self._agreement_task.cancel()
            self._agreement_task = None
        if self.link is not None:
            self.link.unlink()
            self.link = None
        if self._main_state is not None:
            self._main_state.events.display.disconnect(self._follow_main_display)
            self._main_state.events.shutter.disconnect(self._follow_main_layers)
            self._main_state.events.overlay_planes.disconnect(self._follow_main_layers)
            self._main_state = None
        if self.panes:
            first = self.panes[0].state
            first.events.slice.disconnect(self._on_pane_slice)
            first.events.plane.disconnect(self._on_pane_slice)
        for pane in self.panes:
            pane.outline.detach()
            pane.view.disconnect_state()
        while self.grid.count():
            widget = self.grid.takeAt(0).widget()
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        for r in range(self.grid.rowCount()):
            self.grid.setRowStretch(r, 0)  # the next grid may have fewer rows (or models side by side)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 0)
        self.panes = []
        self.pane_combo.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)

    # ------------------------------------------------------------------ agreement
    def _start_agreement(self, history: RunHistory) -> None:
        """Compute the agreement numbers in a worker (sorting a CT-sized map takes seconds)."""
        items = [PaneMap(self._pane_label(p), p.state.overlay.data, p.result.slice_index) for p in self.panes if p.state.overlay]
        self.agreement = None
        self.agreement_note.setText("Computing the agreement numbers\u2026")
        lung_mask, slice_lungs = history.lung_mask, history.slice_lungs
        task = Task("agreement", lambda ctx: compute_agreement(items, lung_mask, check=ctx.check, slice_lungs=slice_lungs), self)
        task.succeeded.connect(lambda agreement: self._show_agreement(task, agreement, bool(slice_lungs), lung_mask is not None))
        task.failed.connect(lambda err, _tb: self._agreement_failed(task, err))
        self._agreement_task = task
        self._running.add(task)
        task.finished.connect(lambda: self._running.discard(task))
        task.start()

    def _agreement_failed(self, task: Task, error: Exception) -> None:
        if task is self._agreement_task:
            self.agreement_note.setText(f"Agreement numbers failed: {type(error).__name__}: {error}")

    def _show_agreement(self, task: Task, agreement: Agreement, ct_lungs: bool, film_lungs: bool) -> None:
        if task is not self._agreement_task:
            return  # a newer grid replaced the one these numbers belong to
        self.agreement = agreement
        labels = agreement.labels
        self.table.setRowCount(len(labels))
        self.table.setColumnCount(1 + len(labels))
        self.table.setHorizontalHeaderLabels(["attention in lungs"] + [f"IoU vs {i + 1}" for i in range(len(labels))])
        self.table.setVerticalHeaderLabels([f"{i + 1}. {label}" for i, label in enumerate(labels)])
        for i in range(len(labels)):
            self.table.setItem(i, 0, QTableWidgetItem(_fmt(agreement.lung_share[i], percent=True)))
            for j in range(len(labels)):
                self.table.setItem(i, 1 + j, QTableWidgetItem(_fmt(agreement.iou[i][j])))
        self.table.resizeColumnsToContents()
        rows_shown = min(len(labels), MAX_TABLE_ROWS)
        header = self.table.horizontalHeader().sizeHint().height()
        self.table.setMinimumHeight(header + rows_shown * self.table.verticalHeader().defaultSectionSize() + 4)
        fraction = int(round(agreement.fraction * 100))
        lung = ("attention in lungs: share of each map's total attention inside the lungs "
                + ("(the dark regions the body encloses on the slice)" if ct_lungs else "(the lung U-Net's mask)")
                if ct_lungs or film_lungs else
                "attention in lungs: n/a (no lungs drawn: a radiograph's need the trained lung U-Net)")
        self.agreement_note.setText(f"IoU: overlap of the top-{fraction}% most-attended pixels of two maps (1 = same place). {lung}.")
        self.agreementReady.emit(agreement)

    def wait_agreement(self, timeout_s: float = 60.0) -> None:
        """Block until the agreement worker returned (shutdown and tests only)."""
        for task in list(self._running):
            task.wait(timeout_s)

    @staticmethod
    def _pane_label(pane: ComparePane) -> str:
        return f"{pane.key.model} \u00b7 {method_label(pane.key.method)}"

    def agreement_lines(self) -> list[str]:
        """The agreement numbers as text lines (for the exported grid)."""
        if self.agreement is None:
            return ["agreement numbers: not computed yet"] if self.panes else []
        a = self.agreement
        lines = [f"{i + 1}. {label}: lungs {_fmt(a.lung_share[i], percent=True)}" for i, label in enumerate(a.labels)]
        pairs = [f"{i + 1}-{j + 1}: {_fmt(a.iou[i][j])}" for i in range(len(a.labels)) for j in range(i + 1, len(a.labels))]
        if pairs:
            lines.append(f"top-{int(round(a.fraction * 100))}% IoU  " + "   ".join(pairs))
        return lines

    # ------------------------------------------------------------------ interaction
    def chosen_pane(self) -> ComparePane | None:
        """The pane picked for "Export pane PNG"."""
        index = self.pane_combo.currentIndex()
        return self.panes[index] if 0 <= index < len(self.panes) else None

    def _apply_overlay(self, settings: OverlaySettings) -> None:
        for pane in self.panes:
            pane.state.update_overlay(**settings.as_kwargs())

    def _on_pane_slice(self, *_args: object) -> None:
        state = self.panes[0].state
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(state.n_slices - 1, 0))
        self.slider.setValue(max(state.slice_number - 1, 0))  # reading order, as the main view's slider
        self.slider.blockSignals(False)
        self.slider.setEnabled(state.n_slices > 1)
        self.slice_label.setText(f"{state.plane.capitalize()} slice {state.slice_number}/{state.n_slices}")

    def _on_slider(self, value: int) -> None:
        if self.panes:
            state = self.panes[0].state
            state.slice_index = state.slice_index_of_number(value + 1)

    @property
    def _side_by_side(self) -> bool:
        return len(self.methods) == 1

    @property
    def _columns(self) -> int:
        return len(self.models) if self._side_by_side else max(1, len(self.methods))

    def grid_png(self):
        """The grid as one QImage: every pane (full slice) with its caption, the colour scale,
        the agreement numbers and the research notice."""
        by_cell = {(p.key.model, p.key.method): p for p in self.panes}
        tiles = []
        blank = None
        for model in self.models:
            for method in self.methods:
                pane = by_cell.get((model, method))
                if pane is not None:
                    tiles.append((pane_image(pane.view), pane.caption_lines()))
                    continue
                if blank is None:
                    blank = QImage(GRID_BLANK, GRID_BLANK, QImage.Format.Format_RGB888)
                    blank.fill(QColor(0, 0, 0))
                tiles.append((blank, [f"{model} \u00b7 {method_label(method)}", "no map"]))
        colorbar = self.overlay.colorbar.grab().toImage() if self.overlay.colorbar.isVisible() else None
        return grid_image(tiles, self._columns, self.agreement_lines(), colorbar)

    def closeEvent(self, event) -> None:
        self._clear_panes()  # the runs stay: opening it again shows them while the image is the same
        super().closeEvent(event)


def _wrapping_label(text: str, tooltip: str) -> QLabel:
    """A header that wraps in a narrow column (never widens the grid) and shows its text as a tooltip."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setToolTip(tooltip)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.0f} %" if percent else f"{value:.2f}"
