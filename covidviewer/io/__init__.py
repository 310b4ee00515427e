"""Input/output: readers for DICOM, NIfTI/MHA/NRRD and images -> Volume; no torch, no Qt.

Public API (everything the UI, inference and trainer use):

- ``scan_folder(path, progress=None, cancelled=None) -> ScanResult``: recursive, header-only scan.
- ``load_series(series, max_bytes=None, progress=None, cancelled=None) -> Volume``: read one
  ``SeriesInfo`` found by a scan.
- ``load_path(path, max_bytes=None) -> Volume``: one file, or a folder holding exactly one series.
- ``thumbnail(series_or_volume, size=96) -> uint8 (size, size)`` for study lists (call in a worker).
- ``dicom_tags(path) -> [(tag, keyword, VR, value)]`` for the tag inspector.
- ``sample_paths() -> {"chest_cr": Path, "ct": Path, ...}``: built-in samples shipped with pydicom.
- ``LoadError``: raised with a user-readable message for every input that cannot be loaded
  (``covidviewer.io.cancel.Cancelled`` when the caller's ``cancelled()`` turned true).
- ``memory_budget_bytes(max_bytes=None)``: the float32 volume size a load may allocate.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names resolve lazily (PEP 562): ``from covidviewer.io.volume import Volume`` or the viewer's
# start-up does not pay for pydicom / OpenCV (~0.7 s) until a file is actually read.
_EXPORTS = {
    "KINDS": "covidviewer.io.study",
    "LoadError": "covidviewer.io.errors",
    "ScanResult": "covidviewer.io.study",
    "SeriesInfo": "covidviewer.io.study",
    "StudyInfo": "covidviewer.io.study",
    "Volume": "covidviewer.io.volume",
    "dicom_tags": "covidviewer.io.tags",
    "load_path": "covidviewer.io.load",
    "load_series": "covidviewer.io.load",
    "memory_budget_bytes": "covidviewer.io.memory",
    "sample_paths": "covidviewer.io.samples",
    "scan_folder": "covidviewer.io.scan",
    "thumbnail": "covidviewer.io.thumbnail",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from covidviewer.io.errors import LoadError
    from covidviewer.io.load import load_path, load_series
    from covidviewer.io.memory import memory_budget_bytes
    from covidviewer.io.samples import sample_paths
    from covidviewer.io.scan import scan_folder
    from covidviewer.io.study import KINDS, ScanResult, SeriesInfo, StudyInfo
    from covidviewer.io.tags import dicom_tags
    from covidviewer.io.thumbnail import thumbnail
    from covidviewer.io.volume import Volume


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'covidviewer.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
