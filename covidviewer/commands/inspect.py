"""``covidviewer inspect PATH [--json]``: list every study and series under PATH, headless.

Each series is loaded to report its array shape, spacing, orientation, first/last slice position
after sorting, value range after rescale and all warnings; unreadable files are listed with the
reason. Exit code 0 when the scan completed (even if some files were unreadable or no image was
found: the report says so), 2 when PATH does not exist or cannot be read at all (a link loop,
a pipe); 130 when interrupted. File names that are not valid UTF-8 are printed with the
undecodable bytes replaced (the JSON keeps them, escaped).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.commands.console import echo, fail
from covidviewer.io import LoadError, ScanResult, SeriesInfo, load_series, scan_folder
from covidviewer.io.files import EMPTY_FILE, path_problem

_MAX_LIBRARY_MESSAGES = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="folder (scanned recursively), DICOMDIR or single file")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--headers-only", action="store_true", help="do not load pixels (no shape/min/max)")
    parser.add_argument("--max-bytes", type=float, default=None, help="memory budget per series (bytes)")


def _floats(values: Any) -> list[float] | None:
    return None if values is None else [round(float(v), 6) for v in values]


def describe_series(series: SeriesInfo, load: bool = True, max_bytes: int | None = None) -> dict[str, Any]:
    """JSON-ready description of one series; loads it unless ``load`` is False."""
    entry: dict[str, Any] = {
        "key": series.key,
        "uid": series.uid,
        "stack": series.stack,
        "kind": series.kind,
        "modality": series.modality,
        "description": series.description,
        "number": series.number,
        "body_part": series.body_part,
        "view_position": series.view_position,
        "localizer": series.localizer,
        "num_images": series.num_images,
        "num_files": len(series.files),
        "first_file": str(series.files[0]) if series.files else None,
        "photometric": series.photometric,
        "transfer_syntax": series.transfer_syntax,
        "warnings": list(series.warnings),
        "error": None,
    }
    if not load:
        return entry
    try:
        volume = load_series(series, max_bytes=max_bytes)
    except LoadError as e:
        entry["error"] = str(e)
        return entry
    pixels = volume.pixels
    finite = np.isfinite(pixels)
    entry.update(
        {
            "modality": volume.modality,
            "shape": list(volume.shape),
            "is_rgb": volume.is_rgb,
            "spacing": _floats(volume.spacing),
            "origin": _floats(volume.origin),
            "orientation": _floats(volume.meta.get("orientation")),
            "direction": [_floats(row) for row in np.asarray(volume.direction)],
            "first_position": _floats(volume.meta.get("first_position")),
            "last_position": _floats(volume.meta.get("last_position")),
            "min": float(pixels[finite].min()) if finite.any() else None,
            "max": float(pixels[finite].max()) if finite.any() else None,
            "default_window": _floats(volume.default_window),
            "warnings": list(volume.warnings),
        }
    )
    return entry


def build_report(result: ScanResult, load: bool = True, max_bytes: int | None = None) -> dict[str, Any]:
    """The whole scan as a JSON-ready dict (the --json output)."""
    return {
        "root": str(result.root),
        "cancelled": result.cancelled,
        "warnings": list(result.warnings),
        "studies": [
            {
                "uid": study.uid,
                "patient_name": study.patient_name,
                "patient_id": study.patient_id,
                "study_date": study.study_date,
                "description": study.description,
                "modalities": sorted(study.modalities),
                "series": [describe_series(s, load, max_bytes) for s in study.series],
            }
            for study in result.studies
        ],
        "unreadable": [{"path": str(p), "reason": why} for p, why in result.unreadable],
        "skipped": [{"path": str(p), "reason": why} for p, why in result.skipped],
    }


def _fmt(values: list[float] | None, digits: int = 2) -> str:
    return "-" if values is None else "(" + ", ".join(f"{v:.{digits}f}" for v in values) + ")"


def _print_text(report: dict[str, Any]) -> None:
    echo(f"Scanned {report['root']}")
    for warning in report["warnings"]:
        echo(f"  warning: {warning}")
    for study in report["studies"]:
        echo(f"\nStudy {study['uid']}")
        echo(f"  patient {study['patient_name'] or '-'} ({study['patient_id'] or '-'}), date {study['study_date'] or '-'}, "
              f"{study['description'] or '-'}, modalities {', '.join(study['modalities'])}")
        for s in study["series"]:
            echo(f"  Series {s['key']} [{s['kind']}] {s['modality']} #{s['number'] if s['number'] is not None else '-'} "
                  f"'{s['description']}' body part {s['body_part'] or '-'}, view {s['view_position'] or '-'}, "
                  f"{'a CT localizer, ' if s['localizer'] else ''}{s['num_images']} image(s) in {s['num_files']} file(s)")
            if s["error"]:
                echo(f"    ERROR: {s['error']}")
            elif "shape" in s:
                echo(f"    shape (z, y, x) {tuple(s['shape'])}{' RGB' if s['is_rgb'] else ''}, spacing {_fmt(s['spacing'], 4)} mm")
                echo(f"    orientation {_fmt(s['orientation'], 4)}")
                echo(f"    first position {_fmt(s['first_position'])}, last position {_fmt(s['last_position'])}")
                echo(f"    values {s['min']:.6g} .. {s['max']:.6g}, default window {_fmt(s['default_window'], 1)}")
            for warning in s["warnings"]:
                echo(f"    warning: {warning}")
    if report["unreadable"]:
        echo(f"\nUnreadable files ({len(report['unreadable'])}):")
        for item in report["unreadable"]:
            echo(f"  {item['path']}: {item['reason']}")
    if report["skipped"]:
        echo(f"\nSkipped non-image files: {len(report['skipped'])}")
    if not report["studies"] and not report["unreadable"]:
        echo("\nNo image found.")
    if report["cancelled"]:
        echo("\nScan cancelled before it finished.")


def run(args: argparse.Namespace) -> int:
    path: Path = args.path
    problem = path_problem(path)
    if problem is not None and problem != EMPTY_FILE:
        fail("inspect", f"{path}: {problem}")
        return 2
    # pydicom warns about every odd value it meets; collect those instead of flooding the terminal.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = scan_folder(path)
        except LoadError as e:
            fail("inspect", str(e))
            return 2
        max_bytes = int(args.max_bytes) if args.max_bytes is not None else None
        report = build_report(result, load=not args.headers_only, max_bytes=max_bytes)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    report["library_warnings"] = messages[:_MAX_LIBRARY_MESSAGES]
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_text(report)
        if messages:
            echo(f"\n{len(messages)} distinct warning(s) from the DICOM reader (see --json)")
    return 0
