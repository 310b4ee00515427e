"""The result files ``covidviewer predict --out`` writes for one input (``write_result_files``):
``<stem>.json``, each map as .npy (original grid), and a PNG overlay with the model, version and the
research notice burned in. Writes only into the given output folder.

``export_file_stem`` names the viewer's exports (study, series, slice, model, method; no patient)."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from covidviewer import RESEARCH_NOTICE
from covidviewer.imaging.colormaps import colormap_lut
from covidviewer.imaging.overlay import composite_overlay
from covidviewer.imaging.windowing import window_to_uint8
from covidviewer.inference.results import AnalysisResult, ModelResult

if TYPE_CHECKING:
    from covidviewer.io.volume import Volume

COLORMAP = "jet"
OPACITY = 0.45


def safe_stem(text: str) -> str:
    """A file-name-safe stem (letters, digits, ._-), never empty."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "input"
    return stem[:120]


#: names Windows refuses for a file whatever the extension
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
STEM_MAX_CHARS = 96


def export_file_stem(meta: Mapping[str, Any], *, slice_text: str = "", model: str = "", method: str = "") -> str:
    """The default name of an export: study description, series, slice, model and method, joined
    with "_" and safe on every file system ("THORAX_S1_dpn92_se_Grad-CAM").

    Never the patient: only the study and series descriptions and the series number are read from
    ``meta`` (``covidviewer.io`` metadata), and any word of the patient's name or ID that a
    description repeats is dropped. "covidviewer" when nothing is known.
    """
    patient = {w.lower() for key in ("patient_name", "patient_id") for w in re.split(r"[\^\s,=]+", str(meta.get(key) or "")) if w}
    series_number = str(meta.get("series_number") or "").strip()
    parts = [
        str(meta.get("study_description") or ""),
        " ".join(p for p in (f"S{series_number}" if series_number else "", str(meta.get("series_description") or "")) if p),
        slice_text, model, method,
    ]
    words = [_file_safe(" ".join(w for w in re.split(r"\s+", part) if w.lower() not in patient)) for part in parts]
    stem = "_".join(w for w in words if w)[:STEM_MAX_CHARS].rstrip("._- ")
    if not stem or stem.split(".")[0].upper() in _RESERVED:
        stem = f"covidviewer_{stem}" if stem else "covidviewer"
    return stem


def _file_safe(text: str) -> str:
    """Letters, digits, "_", "-", "+" and "." kept (any script); runs of anything else become "-"."""
    return re.sub(r"[^\w.+-]+", "-", text).strip(".-")


def display_slice(volume: "Volume", result: ModelResult) -> int:
    """Which slice of a volume a PNG shows: the analysed slice, the depth-attention peak, or the
    slice holding the most attention."""
    if result.slice_index is not None:
        return result.slice_index
    if result.peak_slice is not None:
        return result.peak_slice
    heat = result.heatmap
    if heat is not None and heat.ndim == 3:
        return int(np.argmax(heat.reshape(heat.shape[0], -1).sum(axis=1)))
    return volume.shape[0] // 2


def overlay_image(volume: "Volume", result: ModelResult, colormap: str = COLORMAP, opacity: float = OPACITY) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the image in its default window, the map over it, and a caption band."""
    heat = result.heatmap
    if heat is None:
        raise ValueError(f"{result.model} has no attention map")
    z = display_slice(volume, result)
    image = volume.pixels[z if volume.shape[0] > 1 else 0]
    grey = window_to_uint8(np.ascontiguousarray(image, dtype=np.float32), *volume.default_window,
                           function=str(volume.meta.get("voi_function") or "LINEAR"))  # as the viewer draws it
    plane = heat[z] if heat.ndim == 3 else heat
    rgb = composite_overlay(grey, np.ascontiguousarray(plane, dtype=np.float32), colormap_lut(colormap), opacity)
    where = f"slice {z + 1}/{volume.shape[0]}  " if volume.shape[0] > 1 else ""
    lines = [
        f"{result.model} v{result.version}  {result.method}  {where}-> {result.answer} ({result.probabilities.get(result.answer, 0):.2f})",
        f"weights {result.weights_sha256[:12] or 'n/a'}  |  {RESEARCH_NOTICE}",
    ]
    return _with_caption(rgb, lines)


CAPTION_MARGIN = 6


def caption_lines(lines: list[str], width: int, scale: float, thickness: int) -> list[str]:
    """``lines`` as ASCII (Hershey fonts: dashes folded), each broken at spaces into pieces that fit ``width``
    pixels, so a small image's caption still carries the whole research notice (a word wider than the image
    stays whole)."""
    out: list[str] = []
    for line in lines:
        words = line.replace("\u2014", "-").replace("\u2013", "-").encode("ascii", "replace").decode().split(" ")
        current = ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if current and cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] > width - 2 * CAPTION_MARGIN:
                out.append(current)
                trial = word
            current = trial
        out.append(current)
    return out


def _with_caption(rgb: np.ndarray, lines: list[str]) -> np.ndarray:
    """Append a black band with white text, wrapped to the image's width."""
    h, w = rgb.shape[:2]
    scale = max(w / 1400.0, 0.35)
    thickness = max(int(round(scale * 1.5)), 1)
    line_h = int(30 * scale) + 6
    wrapped = caption_lines(lines, w, scale, thickness)
    band = np.zeros((line_h * len(wrapped) + 8, w, 3), dtype=np.uint8)
    for i, text in enumerate(wrapped):
        cv2.putText(band, text, (CAPTION_MARGIN, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return np.vstack([rgb, band])


def write_result_files(analysis: AnalysisResult, volume: "Volume | None", out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.json`` plus, per map, ``<stem>.<model>.<method>.npy`` and ``.png``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    doc = analysis.to_json()
    by_name = {m["model"]: m for m in doc["models"]}
    for result in analysis.models:
        maps = [(result.model, result)] + [(f"{result.model}.{s.model}", s) for s in result.stages]
        for label, item in maps:
            if item.heatmap is None or volume is None:
                continue
            base = f"{stem}.{safe_stem(label)}.{item.method}"
            npy, png = out_dir / f"{base}.npy", out_dir / f"{base}.png"
            np.save(npy, item.heatmap.astype(np.float32))
            bgr = cv2.cvtColor(overlay_image(volume, item), cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(png), bgr):
                raise OSError(f"could not write {png}")
            entry = by_name[result.model] if item is result else _stage_entry(by_name[result.model], item.model)
            entry.setdefault("maps", {}).update({"npy": npy.name, "png": png.name, "shape": list(item.heatmap.shape)})
            written += [npy, png]
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [path] + written


def _stage_entry(entry: dict, stage: str) -> dict:
    return next(s for s in entry.get("stages", []) if s["model"] == stage)
