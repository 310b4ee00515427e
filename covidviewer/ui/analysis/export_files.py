"""Writing the viewer's export files: the checked target path (never one of the input files), a
PNG of a rendered image (``save_png``) and the predictions as JSON in the ``predict`` command's
schema (``save_predictions_json``).

Writes only to the path the user picked (the export actions ask with QFileDialog; tests pass a
path). Encoding a 2000-pixel PNG takes a second or more, so ``save_png`` and
``save_predictions_json`` are called from a worker (``covidviewer.ui.analysis.export_actions``).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
from PySide6.QtGui import QImage

from covidviewer.analysis.run import AnalysisRun
from covidviewer.ui.image_canvas import array_from_qimage

PNG_COMPRESSION = 3  # zlib level: level 6 (the default) takes ~3x longer for ~8% smaller files


class ExportError(Exception):
    """The export could not be written (bad path, refused target, nothing to export)."""


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


def save_png(image: QImage, path: Path, inputs: list[Path] | tuple[Path, ...] = ()) -> Path:
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
