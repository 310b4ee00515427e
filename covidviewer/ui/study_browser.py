"""Study browser: a tree of studies (patient, date, modality, description, images) and their series.

Filled from a ``ScanResult``; thumbnails arrive later, one by one, from a worker
(``set_thumbnail``). Activating a series row emits ``seriesActivated(SeriesInfo)``.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem

from covidviewer.io.patient_dates import shown_date
from covidviewer.io.study import ScanResult, SeriesInfo, StudyInfo

COLUMNS = ("Patient / series", "Date", "Modality", "Description", "Images")
THUMBNAIL_SIZE = 56
_SERIES_ROLE = Qt.ItemDataRole.UserRole + 1


def _patient_text(study: StudyInfo) -> str:
    name = study.patient_name.replace("^", " ").strip()
    if name and study.patient_id:
        return f"{name} ({study.patient_id})"
    return name or study.patient_id or "(no patient)"


def icon_from_gray(pixels: np.ndarray) -> QIcon:
    """QIcon from a (h, w) uint8 array (the image is copied, so the array may be freed)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    image = QImage(pixels.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(image))


class StudyBrowser(QTreeWidget):
    """Studies as top-level rows, series as children with a lazily loaded thumbnail."""

    seriesActivated = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("studyBrowser")
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(COLUMNS)
        self.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(False)
        self.setAlternatingRowColors(True)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 210)
        header.setStretchLastSection(False)
        self._series_items: dict[str, QTreeWidgetItem] = {}
        self.itemActivated.connect(self._on_activated)
        self.itemClicked.connect(self._on_activated)

    def add_scan(self, result: ScanResult) -> list[SeriesInfo]:
        """Append the studies of ``result``; returns its series in display order."""
        added: list[SeriesInfo] = []
        for study in result.studies:
            study_item = QTreeWidgetItem(self, [
                _patient_text(study),
                shown_date(study.study_date),
                ", ".join(sorted(study.modalities)),
                study.description,
                str(study.num_images),
            ])
            study_item.setToolTip(0, f"Study {study.uid}\nfrom {result.root}")
            study_item.setFlags(study_item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            for series in study.series:
                item = QTreeWidgetItem(study_item, [
                    series.label, "", series.modality, series.description, str(series.num_images),
                ])
                item.setData(0, _SERIES_ROLE, series)
                tooltip = [f"{series.kind}: {len(series.files)} file(s)", str(series.files[0]) if series.files else ""]
                tooltip += [f"warning: {w}" for w in series.warnings]
                item.setToolTip(0, "\n".join(t for t in tooltip if t))
                self._series_items[series.key] = item
                added.append(series)
            study_item.setExpanded(True)
        for column in range(1, len(COLUMNS)):
            self.resizeColumnToContents(column)
        return added

    def set_thumbnail(self, series_key: str, pixels: np.ndarray) -> None:
        """Show a (h, w) uint8 preview on the series row (ignored if the row is gone)."""
        item = self._series_items.get(series_key)
        if item is not None:
            item.setIcon(0, icon_from_gray(pixels))

    def series_count(self) -> int:
        return len(self._series_items)

    def select_series(self, series_key: str) -> None:
        """Highlight the row of ``series_key`` (does not emit ``seriesActivated``)."""
        item = self._series_items.get(series_key)
        if item is not None:
            self.setCurrentItem(item)

    def clear_studies(self) -> None:
        self.clear()
        self._series_items.clear()

    def _on_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        series = item.data(0, _SERIES_ROLE)
        if series is not None:
            self.seriesActivated.emit(series)
