"""Draws corner text and orientation markers over an image, on screen and in exported images.

The words come from Qt-free functions (``covidviewer.imaging.view_annotations.corner_text`` and
``covidviewer.imaging.orientation``); this module only paints them: light text with a dark outline
so it reads on white bone and black air alike, markers bold in the middle of each edge.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter

from covidviewer.imaging.orientation import EdgeLabels
from covidviewer.imaging.view_annotations import CornerText

TEXT_COLOUR = QColor(240, 240, 200)
MARKER_COLOUR = QColor(255, 230, 120)
OUTLINE_COLOUR = QColor(0, 0, 0, 220)


def _outlined(painter: QPainter, position: QPointF, text: str, font: QFont, colour: QColor) -> None:
    # A dark halo from the text drawn shifted four ways: glyph-cached drawText is several times
    # cheaper than stroking a QPainterPath, and this runs on every slice change.
    painter.setFont(font)
    offset = max(font.pixelSize() / 12.0, 1.0)
    painter.setPen(OUTLINE_COLOUR)
    for dx, dy in ((-offset, -offset), (offset, -offset), (-offset, offset), (offset, offset)):
        painter.drawText(position + QPointF(dx, dy), text)
    painter.setPen(colour)
    painter.drawText(position, text)


def paint_annotations(
    painter: QPainter, rect: QRectF, corners: CornerText | None, markers: EdgeLabels | None, font_px: int = 13
) -> None:
    """Paint ``corners`` in the corners of ``rect`` and ``markers`` at the middle of its edges."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    font = QFont()
    font.setPixelSize(max(int(font_px), 6))
    metrics = QFontMetricsF(font)
    margin, line = max(font_px * 0.4, 3.0), metrics.height()
    if corners is not None:
        blocks = (
            (corners.top_left, False, False), (corners.top_right, True, False),
            (corners.bottom_left, False, True), (corners.bottom_right, True, True),
        )
        for lines, right, bottom in blocks:
            top = rect.bottom() - margin - line * len(lines) if bottom else rect.top() + margin
            for i, text in enumerate(lines):
                width = metrics.horizontalAdvance(text)
                x = rect.right() - margin - width if right else rect.left() + margin
                _outlined(painter, QPointF(x, top + i * line + metrics.ascent()), text, font, TEXT_COLOUR)
    if markers:
        bold = QFont(font)
        bold.setPixelSize(int(font.pixelSize() * 1.4))
        bold.setBold(True)
        bm = QFontMetricsF(bold)
        mid_x, mid_y = rect.center().x(), rect.center().y()
        for text, x, y in (
            (markers.left, rect.left() + margin, mid_y + bm.ascent() / 2),
            (markers.right, rect.right() - margin - bm.horizontalAdvance(markers.right), mid_y + bm.ascent() / 2),
            (markers.top, mid_x - bm.horizontalAdvance(markers.top) / 2, rect.top() + margin + bm.ascent()),
            (markers.bottom, mid_x - bm.horizontalAdvance(markers.bottom) / 2, rect.bottom() - margin - bm.descent()),
        ):
            if text:
                _outlined(painter, QPointF(x, y), text, bold, MARKER_COLOUR)
    painter.restore()


def annotated_copy(image: QImage, corners: CornerText | None, markers: EdgeLabels | None) -> QImage:
    """A copy of ``image`` (RGB) with the annotations burned in, text sized to the image width."""
    out = image.convertToFormat(QImage.Format.Format_RGB888)
    painter = QPainter(out)
    paint_annotations(painter, QRectF(0, 0, out.width(), out.height()), corners, markers,
                      font_px=int(min(max(out.width() / 55, 11), 32)))
    painter.end()
    return out
