"""Captioned images of an analysis, as the export actions write them: the whole slice of a pane with
the analysed region's outline, measurements and corner text (``pane_image``), a caption band with
model, version, method, answer, weights SHA and the research notice (``with_caption``,
``result_caption``), and the compare grid (``grid_image``).

Rendering is quick and happens on the GUI thread; encoding and writing the PNG happen in a worker
(``covidviewer.ui.analysis.export_files``, started by ``covidviewer.ui.analysis.export_actions``).
"""
from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from covidviewer import RESEARCH_NOTICE, __version__
from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.methods import method_label
from covidviewer.ui.analysis.export_files import ExportError
from covidviewer.ui.analysis.region_outline import outline_of, paint_outline
from covidviewer.ui.view_image import burn_in, slice_image

CAPTION_BG = QColor(0, 0, 0)
CAPTION_FG = QColor(255, 255, 255)
NOTICE_FG = QColor(255, 110, 110)
GRID_TILE = 512
GRID_GAP = 8


def result_caption(key: MapKey, result, slice_text: str = "") -> list[str]:
    """Caption lines of one map: model + version, method, decision, weights SHA."""
    p = result.probabilities.get(result.answer, 0.0)
    stage = f" (stage {key.stage})" if key.stage else ""
    where = f"  {slice_text}" if slice_text else ""
    return [
        f"{key.model}{stage} v{result.version}  \u00b7  {method_label(key.method)}{where}",
        f"\u2192 {result.answer} ({100 * p:.0f} %)  \u00b7  weights {result.weights_sha256[:12] or 'n/a'}",
    ]


def pane_image(view, anonymise: bool | None = None) -> QImage:
    """The full current slice of a SliceView as drawn (window, overlay), at its true aspect ratio,
    with the analysed region's dashed outline when the view shows one (region_outline.py), then the
    view's measurements and corner text (``covidviewer.ui.view_image.burn_in``; ``anonymise``
    as there).

    Native resolution: the whole slice regardless of zoom, so an export never crops the image.
    """
    image = slice_image(view)
    if image is None:
        raise ExportError("no image to export")
    outline = outline_of(view)
    rect = None if outline is None else outline.rect()
    if rect is not None:
        r0, c0, r1, c1 = rect
        sy = image.height() / view.displayed_image().shape[0]
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = max(2.0, min(image.width(), image.height()) / 300)  # thin, but seen when the PNG is shown whole
        half = width / 2
        paint_outline(painter, QRectF(c0 + half, r0 * sy + half, (c1 - c0) - width, (r1 - r0) * sy - width), width)
        painter.end()
    return burn_in(view, image, anonymise)


def _caption_font(width: int) -> QFont:
    font = QFont()
    font.setPixelSize(int(min(max(width / 55, 11), 28)))
    return font


def with_caption(image: QImage, lines: list[str], notice: bool = True) -> QImage:
    """``image`` with a black band below holding ``lines`` and (by default) the research notice."""
    lines = list(lines) + ([f"{RESEARCH_NOTICE}  \u00b7  CovidViewer {__version__}"] if notice else [])
    font = _caption_font(image.width())
    line_h = int(font.pixelSize() * 1.45)
    band = line_h * len(lines) + 8
    out = QImage(image.width(), image.height() + band, QImage.Format.Format_RGB888)
    out.fill(CAPTION_BG)
    painter = QPainter(out)
    painter.drawImage(0, 0, image)
    painter.setFont(font)
    for i, line in enumerate(lines):
        is_notice = notice and i == len(lines) - 1
        painter.setPen(NOTICE_FG if is_notice else CAPTION_FG)
        rect = QRect(6, image.height() + 4 + i * line_h, image.width() - 12, line_h)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), line)
    painter.end()
    return out


def grid_image(tiles: list[tuple[QImage, list[str]]], columns: int, footer: list[str], colorbar: QImage | None = None) -> QImage:
    """Tiles (each scaled into GRID_TILE px, with its caption) in ``columns`` columns, then the
    colour scale and ``footer`` lines (agreement numbers) and the research notice."""
    if not tiles:
        raise ExportError("no panes to export")
    captioned = []
    for image, lines in tiles:
        scaled = image.scaled(GRID_TILE, GRID_TILE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        captioned.append(with_caption(scaled, lines, notice=False))
    columns = max(1, min(columns, len(captioned)))
    rows = -(-len(captioned) // columns)
    cell_w = max(t.width() for t in captioned)
    cell_h = max(t.height() for t in captioned)
    body_w = columns * cell_w + (columns + 1) * GRID_GAP
    body_h = rows * cell_h + (rows + 1) * GRID_GAP
    if colorbar is not None:
        body_h += colorbar.height() + GRID_GAP
    body = QImage(body_w, body_h, QImage.Format.Format_RGB888)
    body.fill(QColor(40, 40, 40))
    painter = QPainter(body)
    for i, tile in enumerate(captioned):
        r, c = divmod(i, columns)
        painter.drawImage(GRID_GAP + c * (cell_w + GRID_GAP), GRID_GAP + r * (cell_h + GRID_GAP), tile)
    if colorbar is not None:
        width = min(colorbar.width(), body_w - 2 * GRID_GAP)
        painter.drawImage(QRectF(GRID_GAP, body_h - colorbar.height() - GRID_GAP, width, colorbar.height()), colorbar)
    painter.end()
    return with_caption(body, footer)
