"""Overlay controls: which map, on/off, colormap, opacity 0-100 %, threshold, and a colorbar.

The controls hold no image: they emit ``changed(OverlaySettings)`` and the analysis controller (or
the compare grid, for all its panes at once) applies it with ``SliceView.set_overlay`` /
``ViewerState.update_overlay``. The same widget serves both, so the main view and the compare grid
look and behave alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QWidget,
)

from covidviewer.imaging import COLORMAPS, colormap_lut
from covidviewer.ui.wheel_guard import guard_wheel

MAP_CHOICE_CHARS = 18  # the map box's width in characters (longer names are cut, with a tooltip)


@dataclass(frozen=True)
class OverlaySettings:
    """How a map is drawn; the keyword names match ``ViewerState.update_overlay``."""

    colormap: str = "jet"
    opacity: float = 0.45
    threshold: float = 0.2
    visible: bool = True

    def as_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``set_overlay`` / ``update_overlay``."""
        return {"colormap": self.colormap, "opacity": self.opacity, "threshold": self.threshold, "visible": self.visible}


class ColorBar(QWidget):
    """The map's colour scale from 0 to 1; values under the threshold (not drawn) are greyed out."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("colorBar")
        self._colormap = "jet"
        self._threshold = 0.0
        self._image: QImage | None = None
        self.setMinimumHeight(34)
        self.setMaximumHeight(40)
        self.setToolTip("Attention from 0 (none) to 1 (the map's maximum); the grey part is below the threshold and not drawn")

    def set_scale(self, colormap: str, threshold: float) -> None:
        """Redraw for ``colormap`` with ``threshold`` (0..1) greyed out."""
        if colormap != self._colormap:
            self._image = None
        self._colormap, self._threshold = colormap, float(threshold)
        self.update()

    def _gradient(self) -> QImage:
        if self._image is None:
            row = np.ascontiguousarray(colormap_lut(self._colormap)[None])  # (1, 256, 3)
            self._rgb = row  # keep the buffer alive as long as the QImage
            self._image = QImage(row.data, 256, 1, 3 * 256, QImage.Format.Format_RGB888)
        return self._image

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        metrics = painter.fontMetrics()
        bar = QRectF(6, 2, max(self.width() - 12, 10), max(self.height() - metrics.height() - 6, 8))
        painter.drawImage(bar, self._gradient())
        if self._threshold > 0:
            cut = QRectF(bar.left(), bar.top(), bar.width() * self._threshold, bar.height())
            painter.fillRect(cut, QColor(128, 128, 128, 200))
        painter.setPen(QPen(self.palette().text().color()))
        painter.drawRect(bar)
        y = int(bar.bottom() + metrics.ascent() + 2)
        painter.drawText(int(bar.left()), y, "0")
        mid = "threshold {:.0f} %".format(self._threshold * 100) if self._threshold > 0 else "attention"
        painter.drawText(int(bar.center().x() - metrics.horizontalAdvance(mid) / 2), y, mid)
        painter.drawText(int(bar.right() - metrics.horizontalAdvance("1")), y, "1")
        painter.end()


def _percent_slider(name: str, value: float, tip: str) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setObjectName(name)
    slider.setRange(0, 100)
    slider.setValue(int(round(value * 100)))
    slider.setToolTip(tip)
    return slider


class OverlayControls(QWidget):
    """Map choice (optional), show toggle, colormap, opacity and threshold sliders, colorbar.

    Signals: ``changed(OverlaySettings)`` on any drawing change; ``mapChosen(object)`` with the key
    of the chosen map (``set_maps`` items), only when built with ``map_choice=True``.
    """

    changed = Signal(object)
    mapChosen = Signal(object)

    def __init__(self, settings: OverlaySettings | None = None, map_choice: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        settings = settings or OverlaySettings()
        self.map_combo = QComboBox()
        self.map_combo.setObjectName("overlayMap")
        self.map_combo.setToolTip("Which result's attention map is drawn over the image")
        # a long map name ("cascade_semenet / seme_densenet169 · Grad-CAM") is cut in the box, not
        # allowed to widen the dock and shrink the image; the list and the tooltip show it whole
        self.map_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.map_combo.setMinimumContentsLength(MAP_CHOICE_CHARS)
        self.visible_check = QCheckBox("Show attention map (O)")
        self.visible_check.setObjectName("overlayVisible")
        self.visible_check.setChecked(settings.visible)
        self.colormap_combo = QComboBox()
        self.colormap_combo.setObjectName("overlayColormap")
        self.colormap_combo.addItems(COLORMAPS)
        self.colormap_combo.setCurrentText(settings.colormap)
        self.opacity_slider = _percent_slider("overlayOpacity", settings.opacity, "Opacity of the map over the image")
        self.opacity_label = QLabel()
        self.threshold_slider = _percent_slider("overlayThreshold", settings.threshold, "Attention below this is not drawn")
        self.threshold_label = QLabel()
        for label in (self.opacity_label, self.threshold_label):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance("100 %") + 4)
        self.colorbar = ColorBar()

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        if map_choice:
            form.addRow("Map", self.map_combo)
        form.addRow(self.visible_check)
        form.addRow("Colours", self.colormap_combo)
        form.addRow("Opacity", _row(self.opacity_slider, self.opacity_label))
        form.addRow("Threshold", _row(self.threshold_slider, self.threshold_label))
        form.addRow(self.colorbar)
        self.map_combo.setVisible(map_choice)

        self.map_combo.currentIndexChanged.connect(self._on_map)
        self.visible_check.toggled.connect(self._emit)
        self.colormap_combo.currentTextChanged.connect(self._emit)
        self.opacity_slider.valueChanged.connect(self._emit)
        self.threshold_slider.valueChanged.connect(self._emit)
        # scrolling the panel over a combo or slider must not change it: only once clicked
        guard_wheel(self.map_combo, self.colormap_combo, self.opacity_slider, self.threshold_slider)
        self._refresh_labels()

    @property
    def settings(self) -> OverlaySettings:
        """The drawing settings the controls show now."""
        return OverlaySettings(
            colormap=self.colormap_combo.currentText(),
            opacity=self.opacity_slider.value() / 100.0,
            threshold=self.threshold_slider.value() / 100.0,
            visible=self.visible_check.isChecked(),
        )

    def set_maps(self, items: list[tuple[object, str]], current: object | None = None) -> None:
        """Fill the map choice with (key, label) pairs and select ``current`` (default: the first)."""
        self.map_combo.blockSignals(True)
        self.map_combo.clear()
        for key, label in items:
            self.map_combo.addItem(label, key)
            self.map_combo.setItemData(self.map_combo.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        metrics = self.map_combo.fontMetrics()
        widest = max((metrics.horizontalAdvance(label) for _key, label in items), default=0)
        self.map_combo.view().setMinimumWidth(widest + 32)  # the open list shows every name whole
        keys = [key for key, _ in items]
        self.map_combo.setCurrentIndex(keys.index(current) if current in keys else (0 if keys else -1))
        self.map_combo.setEnabled(bool(items))
        self.map_combo.blockSignals(False)
        self._on_map(self.map_combo.currentIndex())

    def current_map(self) -> object | None:
        """Key of the chosen map, or None."""
        return self.map_combo.currentData() if self.map_combo.count() else None

    def toggle_visible(self) -> None:
        """Show / hide the map (the O shortcut)."""
        self.visible_check.setChecked(not self.visible_check.isChecked())

    def _on_map(self, _index: int) -> None:
        text = self.map_combo.currentText()
        self.map_combo.setToolTip(text or "Which result's attention map is drawn over the image")
        self.mapChosen.emit(self.current_map())

    def _emit(self, *_args: object) -> None:
        self._refresh_labels()
        self.changed.emit(self.settings)

    def _refresh_labels(self) -> None:
        settings = self.settings
        self.opacity_label.setText(f"{self.opacity_slider.value()} %")
        self.threshold_label.setText(f"{self.threshold_slider.value()} %")
        self.colorbar.set_scale(settings.colormap, settings.threshold)


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, QSlider) else 0)
    return row
