"""Export from the UI: PNG of one pane or of the compare grid with model, version, weights and the
research notice burned in, and JSON of the predictions (covidviewer.inference's schema, as the
``predict`` command writes it).

Writes only to the path the user picked (the exporter asks with QFileDialog; tests pass a path);
an input file is never overwritten. Encoding a 2000-pixel PNG takes a second or more, so
``save_image`` / ``save_predictions_json`` are called from a worker (covidviewer.ui.analysis.exporter).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from covidviewer import RESEARCH_NOTICE, __version__
from covidviewer.analysis.maps import MapKey
from covidviewer.analysis.methods import method_label
from covidviewer.analysis.run import AnalysisRun
from covidviewer.ui.analysis.region_outline import outline_of, paint_outline
from covidviewer.ui.image_canvas import array_from_qimage
from covidviewer.ui.view_export import burn_in, slice_image

CAPTION_BG = QColor(0, 0, 0)
CAPTION_FG = QColor(255, 255, 255)
NOTICE_FG = QColor(255, 110, 110)
GRID_TILE = 512
GRID_GAP = 8
PNG_COMPRESSION = 3  # zlib level: level 6 (the default) takes ~3x longer for ~8% smaller files


class ExportError(Exception):
    """The export could not be written (bad path, refused target, nothing to export)."""


def result_caption(key: MapKey, result, slice_text: str = "") -> list[str]:
    """Caption lines of one map: model + version, method, decision, weights SHA."""
    p = result.probabilities.get(result.label, 0.0)
    stage = f" (stage {key.stage})" if key.stage else ""
    where = f"  {slice_text}" if slice_text else ""
    return [
        f"{key.model}{stage} v{result.version}  \u00b7  {method_label(key.method)}{where}",
        f"\u2192 {result.label} ({100 * p:.0f} %)  \u00b7  weights {result.weights_sha256[:12] or 'n/a'}",
    ]


def array_to_qimage(array: np.ndarray) -> QImage:
    """A QImage owning a copy of an (h, w) or (h, w, 3) uint8 array."""
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def pane_image(view, anonymise: bool | None = None) -> QImage:
    """The full current slice of a SliceView as drawn (window, overlay), at its true aspect ratio,
    with the analysed region's dashed outline when the view shows one (region_outline.py), then the
    view's measurements and corner text (``covidviewer.ui.view_export.burn_in``; ``anonymise``
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


def check_target(path: Path, inputs: list[Path] | tuple[Path, ...] = ()) -> Path:
    """The resolved output path; refuses to overwrite one of the input files."""
    path = Path(path).expanduser()
    resolved = path.resolve()
    for source in inputs:
        try:
            if Path(source).resolve() == resolved:
                raise ExportError(f"{path} is an input file; choose another name")
        except OSError:
            continue
    if not resolved.parent.is_dir():
        raise ExportError(f"folder {resolved.parent} does not exist")
    return resolved


def png_target(path: Path, inputs: list[Path] | tuple[Path, ...] = ()) -> Path:
    """The checked output path with a .png suffix."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    return check_target(path, inputs)


def save_image(image: QImage, path: Path, inputs: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Encode ``image`` as PNG and write it (slow for large images: call from a worker)."""
    target = png_target(path, inputs)
    rgb = array_from_qimage(image)[..., :3]
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ExportError(f"could not encode {target.name} as PNG")
    _write_bytes(target, encoded.tobytes())
    return target


def _write_bytes(target: Path, data: bytes) -> None:
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise ExportError(f"could not write {target}: {exc.strerror or exc}") from exc


def save_predictions_json(run: AnalysisRun, path: Path, inputs: list[Path] | tuple[Path, ...] = ()) -> Path:
    """Every (model, method) result of ``run`` as JSON in the ``predict`` command's schema."""
    target = check_target(Path(path), inputs)
    doc = run.merged().to_json()
    _write_bytes(target, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))
    return target
