"""Draws corner text and orientation markers over an image, on screen and in exported images, and
measurements into exported images.

The words come from Qt-free functions (``covidviewer.imaging.view_annotations.corner_text`` and
``covidviewer.imaging.orientation``), the measurements' shapes and label places from
``covidviewer.imaging.measurement_marks``; this module only paints them: light text with a dark
outline so it reads on white bone and black air alike, markers bold in the middle of each edge,
measurement lines over a dark halo with their values on dark boxes, as the view draws them.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen

from covidviewer.imaging.measurement_marks import MeasurementMarks, place_labels
from covidviewer.imaging.orientation import EdgeLabels
from covidviewer.imaging.view_annotations import CornerText

TEXT_COLOUR = QColor(240, 240, 200)
MARKER_COLOUR = QColor(255, 230, 120)
OUTLINE_COLOUR = QColor(0, 0, 0, 220)
MEASUREMENT_COLOUR = QColor(255, 214, 64)
LABEL_BACKGROUND = QColor(0, 0, 0, 170)


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


def annotation_layout(
    rect: QRectF, corners: CornerText | None, markers: EdgeLabels | None, font_px: int = 13
) -> list[tuple[str, QPointF, QFont, QColor, QRectF]]:
    """(text, baseline position, font, colour, box) of every line of ``corners`` in the corners of
    ``rect`` and of ``markers`` at the middle of its edges: what ``paint_annotations`` draws, and
    where measurement labels should not go."""
    font = QFont()
    font.setPixelSize(max(int(font_px), 6))
    metrics = QFontMetricsF(font)
    margin, line = max(font_px * 0.4, 3.0), metrics.height()
    laid: list[tuple[str, QPointF, QFont, QColor, QRectF]] = []

    def add(text: str, x: float, baseline: float, fnt: QFont, fm: QFontMetricsF, colour: QColor) -> None:
        box = QRectF(x, baseline - fm.ascent(), fm.horizontalAdvance(text), fm.height())
        laid.append((text, QPointF(x, baseline), fnt, colour, box))

    if corners is not None:
        blocks = (
            (corners.top_left, False, False), (corners.top_right, True, False),
            (corners.bottom_left, False, True), (corners.bottom_right, True, True),
        )
        for lines, right, bottom in blocks:
            top = rect.bottom() - margin - line * len(lines) if bottom else rect.top() + margin
            for i, text in enumerate(lines):
                x = rect.right() - margin - metrics.horizontalAdvance(text) if right else rect.left() + margin
                add(text, x, top + i * line + metrics.ascent(), font, metrics, TEXT_COLOUR)
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
                add(text, x, y, bold, bm, MARKER_COLOUR)
    return laid


def paint_annotations(
    painter: QPainter, rect: QRectF, corners: CornerText | None, markers: EdgeLabels | None, font_px: int = 13
) -> None:
    """Paint ``corners`` in the corners of ``rect`` and ``markers`` at the middle of its edges."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    for text, position, font, colour, _box in annotation_layout(rect, corners, markers, font_px):
        _outlined(painter, position, text, font, colour)
    painter.restore()


def paint_measurements(painter: QPainter, rect: QRectF, drawn: list[tuple[MeasurementMarks, str]],
                       font_px: int = 13, line_px: float = 1.6, avoid: list[QRectF] = ()) -> None:
    """Paint each (marks, label text) of ``drawn`` (marks in ``rect``'s pixels): lines and ROI outlines
    over a dark halo, square end marks, and the label on a dark box kept inside ``rect`` and, where
    there is room, off ``avoid`` (the corner text's boxes)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    halo, line = QPen(OUTLINE_COLOUR, line_px + 2.0), QPen(MEASUREMENT_COLOUR, line_px)
    for pen in (halo, line):
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    end_px = max(line_px * 2.5, 4.0)
    for marks, _text in drawn:
        path = marks_path(marks)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pen in (halo, line):
            painter.setPen(pen)
            painter.drawPath(path)
            for x, y in marks.ends:
                painter.drawRect(QRectF(x - end_px / 2, y - end_px / 2, end_px, end_px))
    font = QFont()
    font.setPixelSize(max(int(font_px), 6))
    metrics = QFontMetricsF(font)
    pad = max(font_px / 3.0, 2.0)
    texts = [text.splitlines() or [""] for _marks, text in drawn]
    sizes = [(max(metrics.horizontalAdvance(t) for t in lines) + 2 * pad, metrics.height() * len(lines) + pad)
             for lines in texts]
    corners = place_labels([marks.anchor for marks, _text in drawn], sizes,
                           (rect.left(), rect.top(), rect.right(), rect.bottom()), (font_px * 0.8, font_px * 0.5),
                           tops=[marks.top for marks, _text in drawn],
                           avoid=[(b.left(), b.top(), b.right(), b.bottom()) for b in avoid])
    painter.setFont(font)
    for lines, (width, height), (left, top) in zip(texts, sizes, corners):
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LABEL_BACKGROUND)
        painter.drawRoundedRect(QRectF(left, top, width, height), pad, pad)
        painter.setPen(MEASUREMENT_COLOUR)
        for i, text in enumerate(lines):
            painter.drawText(QPointF(left + pad, top + pad / 2 + i * metrics.height() + metrics.ascent()), text)
    painter.restore()


def marks_path(marks: MeasurementMarks) -> QPainterPath:
    """The lines and ROI outline of ``marks`` as one path (the view and exports draw the same)."""
    path = QPainterPath()
    if marks.box is not None:
        box = QRectF(QPointF(*marks.box[:2]), QPointF(*marks.box[2:]))
        if marks.shape == "ellipse":
            path.addEllipse(box)
        else:
            path.addRect(box)
    for line in marks.lines:
        path.moveTo(QPointF(*line[0]))
        for point in line[1:]:
            path.lineTo(QPointF(*point))
    return path
