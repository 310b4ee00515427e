"""Measurements saved per series in a folder of the user's own (never beside the images), Qt-free.

One JSON file per series, named by a hash of the series' identity: its SeriesInstanceUID when the
file has one, else the resolved paths of its files. The folder is given by the caller (the viewer
passes its application data folder); nothing here knows about Qt or the user's settings.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from covidviewer.imaging.measurements import Calibration, Measurement, roi_values
from covidviewer.io.volume import Volume

STORE_VERSION = 1


def series_key(volume: Volume) -> str:
    """"series:<SeriesInstanceUID>", else "files:<sha256 of the resolved source paths>"."""
    uid = str((volume.meta or {}).get("series_uid") or "").strip()
    if uid:
        return f"series:{uid}"
    paths = sorted(str(Path(p).resolve()) for p in volume.sources)
    if not paths:
        raise ValueError("a volume without a SeriesInstanceUID or source files has no identity to store under")
    return "files:" + hashlib.sha256("\n".join(paths).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class StoredMeasurements:
    """What the store gave back: the measurements and why any were left out."""

    measurements: list[Measurement] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class MeasurementStore:
    """Reads and writes the measurements of each series as JSON files in ``folder``."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path_for(self, key: str) -> Path:
        """The file of series ``key`` (a hash, so no patient data or path shows in the name)."""
        return self.folder / f"{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}.json"

    def load(self, key: str, shape: Sequence[int] | None = None) -> StoredMeasurements:
        """The measurements saved for ``key``; an unreadable file or record is a problem, not an error.

        shape: the (z, y, x) size of the loaded volume; measurements made on a differently sized
        volume with the same identity (another subset of the series) are left out.
        """
        result = StoredMeasurements()
        path = self.path_for(key)
        if not path.is_file():
            return result
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            result.problems.append(f"saved measurements unreadable ({path.name}: {err})")
            return result
        if not isinstance(data, dict) or data.get("key") != key:
            result.problems.append(f"saved measurements ignored ({path.name} belongs to another series)")
            return result
        if shape is not None and data.get("shape") is not None and list(data["shape"]) != list(shape):
            result.problems.append(
                f"saved measurements ignored: they were made on a {tuple(data['shape'])} volume, this one is {tuple(shape)}")
            return result
        for record in data.get("measurements", []):
            try:
                result.measurements.append(Measurement.from_dict(record))
            except (TypeError, ValueError) as err:
                result.problems.append(f"a saved measurement was left out: {err}")
        return result

    def save(self, key: str, measurements: Sequence[Measurement], shape: Sequence[int] | None = None) -> Path:
        """Write (atomically) the measurements of ``key``; an empty list removes its file."""
        path = self.path_for(key)
        if not measurements:
            path.unlink(missing_ok=True)
            return path
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"version": STORE_VERSION, "key": key, "shape": list(shape) if shape is not None else None,
                "measurements": [m.to_dict() for m in measurements]}
        _write_json_atomically(path, data)
        return path


def measurements_document(measurements: Sequence[Measurement], volume: Volume | None = None,
                          calibration: Calibration | None = None) -> dict[str, Any]:
    """The JSON document File > Export measurements writes: the series' UIDs (no patient data),
    the calibration used and every measurement's ``to_dict``."""
    meta = (volume.meta or {}) if volume is not None else {}
    document: dict[str, Any] = {
        "study_uid": meta.get("study_uid") or None,
        "series_uid": meta.get("series_uid") or None,
        "modality": volume.modality if volume is not None else None,
        "shape": list(volume.shape) if volume is not None else None,
        "spacing_mm": list(volume.spacing) if volume is not None and calibration and calibration.unit == "mm" else None,
        "spacing_source": calibration.source if calibration is not None else None,
        "spacing_note": calibration.note if calibration is not None else None,
        "roi_values": roi_values(volume).note if volume is not None else None,
        "points_are": "[z, y, x] voxel indices, pixel centres at integers",
        "measurements": [m.to_dict() for m in measurements],
    }
    return document


def write_measurements_json(path: Path | str, measurements: Sequence[Measurement], volume: Volume | None = None,
                            calibration: Calibration | None = None) -> Path:
    """Write ``measurements_document`` to ``path`` (UTF-8, indented)."""
    path = Path(path)
    _write_json_atomically(path, measurements_document(measurements, volume, calibration))
    return path


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".measurements-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=1, ensure_ascii=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
