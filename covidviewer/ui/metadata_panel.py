"""Metadata panel: a summary of the shown volume and a filterable DICOM tag inspector."""
from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from covidviewer.io.patient_dates import shown_date
from covidviewer.io.pixel_spacing import IMAGER_PIXEL_SPACING
from covidviewer.io.volume import Volume

TAG_COLUMNS = ("Tag", "Keyword", "VR", "Value")
_COLUMN_WIDTHS = (84, 130, 30)
# Volume.meta keys (as filled by covidviewer.io) worth a line in the summary.
_META_LINES = (
    ("patient_name", "Patient"), ("study_date", "Study date"), ("series_description", "Series"),
    ("body_part", "Body part"), ("view_position", "View"), ("photometric", "Photometric"),
    ("transfer_syntax", "Transfer syntax"), ("rescale_type", "Units"), ("image_type", "Image type"),
)


def volume_summary(volume: Volume) -> str:
    """Multi-line description of a volume: modality, size, spacing, window, warnings."""
    z, y, x = volume.shape
    sz, sy, sx = volume.spacing
    center, width = volume.default_window
    lines = [
        f"Modality: {volume.modality}" + ("  (colour)" if volume.is_rgb else ""),
        f"Size (z, y, x): {z} x {y} x {x}",
        f"Spacing (mm): {sz:.3g} x {sy:.3g} x {sx:.3g}" + _spacing_origin(volume),
        f"Default window: L {center:.0f} / W {width:.0f}",
    ]
    for key, title in _META_LINES:
        if volume.meta.get(key):
            value = volume.meta[key]
            lines.append(f"{title}: {shown_date(value) if key == 'study_date' else value}")
    if volume.meta.get("voi_function") == "SIGMOID":
        lines.append("Window function: sigmoid (the file's VOI LUT Function)")
    if volume.meta.get("display_shutter"):
        lines.append("Display shutter: " + " and ".join(s.lower() for s in volume.meta["display_shutter"]["shapes"]))
    if volume.overlay_planes is not None:
        lines.append("Overlay planes: drawn over the image")
    if volume.sources:
        lines.append(f"Source: {volume.sources[0]}" + (f" (+{len(volume.sources) - 1} files)" if len(volume.sources) > 1 else ""))
    lines += [f"\u26a0 {warning}" for warning in volume.warnings]
    return "\n".join(lines)


def _spacing_origin(volume: Volume) -> str:
    """Where a radiograph's in-plane spacing comes from, when that changes what a millimetre means."""
    factor = volume.meta.get("magnification_factor")
    if factor:
        return f"  (at the patient: ImagerPixelSpacing / magnification factor {factor:.3g})"
    if volume.meta.get("spacing_source") == IMAGER_PIXEL_SPACING:
        return "  (at the detector: ImagerPixelSpacing)"
    return ""


class MetadataPanel(QWidget):
    """Volume summary on top, DICOM tags below with a text filter over all columns."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No image loaded")
        self.summary.setObjectName("volumeSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("tagFilter")
        self.filter_edit.setPlaceholderText("Filter tags (keyword, tag, value)…")
        self.filter_edit.setClearButtonEnabled(True)
        self.model = QStandardItemModel(0, len(TAG_COLUMNS), self)
        self.model.setHorizontalHeaderLabels(TAG_COLUMNS)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = QTableView()
        self.table.setObjectName("tagTable")
        self.table.setModel(self.proxy)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.table, 1)

    def show_volume(self, volume: Volume | None) -> None:
        self.summary.setText(volume_summary(volume) if volume is not None else "No image loaded")

    def set_tags(self, rows: list[tuple[str, str, str, str]] | None, note: str = "") -> None:
        """Fill the tag table; ``rows`` None or empty shows ``note`` (e.g. "not a DICOM file")."""
        self.model.removeRows(0, self.model.rowCount())
        if not rows:
            if note:
                self.model.appendRow([QStandardItem(""), QStandardItem(""), QStandardItem(""), QStandardItem(note)])
            return
        for row in rows:
            items = [QStandardItem(str(value)) for value in row]
            items[3].setToolTip(str(row[3]))
            self.model.appendRow(items)
        # Fixed widths for the short columns keep the value column visible in a narrow dock.
        for column, width in enumerate(_COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)

    def visible_tag_count(self) -> int:
        return self.proxy.rowCount()
