"""The Measurements dock: every measurement of the shown series, to select, delete or export.

A row per measurement (kind, slice, value); selecting a row selects the measurement (the view goes
to its slice and highlights it). The line above the table says how lengths are calibrated
(PixelSpacing, ImagerPixelSpacing or pixels). The panel shows and asks; ``MeasurementController``
does the work.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from covidviewer.imaging.measurements import Calibration, Measurement
from covidviewer.viewer.measurement_model import kind_name

HINT = "M length, N angle, Shift+N two lines, E ellipse, B rectangle; Esc cancels"
COLUMNS = ("Kind", "Slice", "Value")


def calibration_text(calibration: Calibration | None) -> str:
    """One line for the reader: where millimetres come from, or that sizes are in pixels."""
    if calibration is None:
        return "No image"
    if calibration.unit == "px":
        return f"Sizes in pixels: {calibration.note.split(':')[0]}" if calibration.note else "Sizes in pixels"
    return f"Sizes in mm from {calibration.note or calibration.source}"  # a note in mm names the attribute first


def value_text(measurement: Measurement) -> str:
    """The label on one line."""
    return "  ".join(line.strip() for line in measurement.label().splitlines())


class MeasurementPanel(QWidget):
    """Table of measurements with Delete and Export JSON buttons.

    Signals: ``selectionChanged(str | None)`` (a measurement id), ``deleteRequested(str)``,
    ``exportRequested()``.
    """

    selectionChanged = Signal(object)
    deleteRequested = Signal(str)
    exportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calibration_label = QLabel("No image")
        self.calibration_label.setObjectName("measurementCalibration")
        self.calibration_label.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("measurementTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: gray")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("measurementDelete")
        self.delete_button.setToolTip("Delete the selected measurement (Del)")
        self.export_button = QPushButton("Export JSON\u2026")
        self.export_button.setObjectName("measurementExport")
        self.export_button.setToolTip("Save every measurement of this series as a JSON file")
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.calibration_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)
        layout.addLayout(buttons)
        self._ids: list[str] = []
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.delete_button.clicked.connect(self._on_delete)
        self.export_button.clicked.connect(self.exportRequested)
        self._update_buttons()

    # ------------------------------------------------------------------ model -> panel
    def set_calibration(self, calibration: Calibration | None, values_note: str = "") -> None:
        """Say where sizes come from and what ROI values are (``RoiValues.note``)."""
        text = calibration_text(calibration)
        if calibration is not None and values_note:
            text += f"\nROI values: {values_note}"
        self.calibration_label.setText(text)
        self.calibration_label.setToolTip(calibration.note if calibration is not None else "")

    def set_measurements(self, measurements: list[Measurement], slice_captions: list[str]) -> None:
        """Fill the table; ``slice_captions`` name each measurement's slice as the view counts them."""
        self.table.blockSignals(True)
        self.table.setRowCount(len(measurements))
        for row, (measurement, caption) in enumerate(zip(measurements, slice_captions)):
            tooltip = f"{measurement.label()}\nspacing: {measurement.spacing_source or 'none'}"
            for column, text in enumerate((kind_name(measurement), caption, value_text(measurement))):
                item = QTableWidgetItem(text)
                item.setToolTip(tooltip)
                self.table.setItem(row, column, item)
        self._ids = [m.id for m in measurements]
        self.table.blockSignals(False)
        self._update_buttons()

    def set_selected(self, measurement_id: str | None) -> None:
        self.table.blockSignals(True)
        if measurement_id in self._ids:
            row = self._ids.index(measurement_id)
            self.table.selectRow(row)
            self.table.scrollToItem(self.table.item(row, 0))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)
        self._update_buttons()

    @property
    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self._ids[rows[0].row()] if rows and rows[0].row() < len(self._ids) else None

    def row_texts(self) -> list[tuple[str, ...]]:
        """The table as text (tests and accessibility)."""
        return [tuple(self.table.item(r, c).text() for c in range(len(COLUMNS))) for r in range(self.table.rowCount())]

    # ------------------------------------------------------------------ user input
    def _on_selection(self) -> None:
        self._update_buttons()
        self.selectionChanged.emit(self.selected_id)

    def _on_delete(self) -> None:
        selected = self.selected_id
        if selected is not None:
            self.deleteRequested.emit(selected)

    def _update_buttons(self) -> None:
        self.delete_button.setEnabled(self.selected_id is not None)
        self.export_button.setEnabled(bool(self._ids))
        self.hint.setVisible(not self._ids)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected_id is not None:
            self.deleteRequested.emit(self.selected_id)
            event.accept()
            return
        super().keyPressEvent(event)
