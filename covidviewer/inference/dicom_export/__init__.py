"""DICOM outputs a PACS accepts, written with highdicom (issue 17, item 8).

- ``sc``: a Secondary Capture of the rendered view (image, attention map, captions and the research
  notice burned in), in the source study, referencing the source series and image;
- ``sr``: a Comprehensive SR with a TID 1500 Measurement Report (model, version, weights SHA-256,
  class probabilities, answer and decision rule, OOD flag and score, viewer measurements),
  referencing the source study, series and images and the Secondary Capture;
- ``anonymise``: PS3.15's Basic Application Level Confidentiality Profile with consistently
  mapped UIDs, applied to both outputs on request.

``write_dicom_outputs`` writes both into a folder the user chose, never the folder of a source file.
Qt-free: the UI passes the rendered view as RGB pixels.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from covidviewer import __version__
from covidviewer.inference.dicom_export.anonymise import UIDMap, anonymise
from covidviewer.inference.dicom_export.sc import secondary_capture
from covidviewer.inference.dicom_export.source import DicomExportError, DicomSource, dicom_source
from covidviewer.inference.dicom_export.sr import MeasurementRecord, analysis_report
from covidviewer.inference.results import ModelResult

__all__ = [
    "DicomExportError", "DicomOutputs", "DicomSource", "MeasurementRecord", "UIDMap",
    "dicom_source", "write_dicom_outputs",
]

MANUFACTURER = "CovidViewer (research software)"
#: series numbers of the two derived series, clear of typical acquisition series numbers
SC_SERIES_NUMBER = 9901
SR_SERIES_NUMBER = 9902
#: text attributes the writers compose themselves (notice, captions; no identifiers), kept when anonymised
OWN_DESCRIPTORS = ("SeriesDescription", "ImageComments", "DerivationDescription")


@dataclass(frozen=True)
class DicomOutputs:
    """The two files written: the Secondary Capture and the SR."""

    secondary_capture: Path
    report: Path


def write_dicom_outputs(
    rgb: np.ndarray,
    source: DicomSource,
    result: ModelResult,
    out_dir: Path,
    stem: str,
    *,
    captions: Sequence[str] = (),
    measurements: Sequence[MeasurementRecord] = (),
    anonymised: bool = False,
    uid_map: UIDMap | None = None,
    native_orientation: bool = True,
    burned_in_identifiers: bool = False,
) -> DicomOutputs:
    """Write ``<stem>_SC.dcm`` (the view ``rgb``) and ``<stem>_SR.dcm`` (``result`` and
    ``measurements``) into ``out_dir``.

    anonymised: apply the Basic Profile to both with ``uid_map`` (a new one when None; pass the same
    map to keep several exports of one study consistent). Refused when the pixels show identifiers
    or the source image declares burned-in annotation. DicomExportError when ``out_dir`` is the
    folder of a source file (outputs are never written beside the user's images) or a target exists
    as a source file.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    _check_folder(out_dir, source.files)
    if anonymised and (burned_in_identifiers or str(source.shown.get("BurnedInAnnotation", "")).upper() == "YES"):
        raise DicomExportError("the image shows burned-in patient details: it cannot be exported anonymised")
    sc = secondary_capture(
        rgb, source, series_uid=generate_uid(), sop_uid=generate_uid(), series_number=SC_SERIES_NUMBER,
        captions=list(captions), manufacturer=MANUFACTURER, software_version=__version__,
        native_orientation=native_orientation, burned_in_identifiers=burned_in_identifiers,
    )
    sr = analysis_report(
        result, source, series_uid=generate_uid(), sop_uid=generate_uid(), series_number=SR_SERIES_NUMBER,
        manufacturer=MANUFACTURER, software_version=__version__, measurements=measurements, evidence=[sc],
    )
    if anonymised:
        uid_map = uid_map if uid_map is not None else UIDMap()
        sc = anonymise(sc, uid_map, clean_descriptors=OWN_DESCRIPTORS)
        sr = anonymise(sr, uid_map, clean_descriptors=OWN_DESCRIPTORS)
    targets = DicomOutputs(out_dir / f"{stem}_SC.dcm", out_dir / f"{stem}_SR.dcm")
    _write(sc, targets.secondary_capture)
    _write(sr, targets.report)
    return targets


def _check_folder(out_dir: Path, files: Sequence[Path]) -> None:
    if not out_dir.is_dir():
        raise DicomExportError(f"folder {out_dir} does not exist")
    for path in files:
        try:
            folder = Path(path).resolve().parent
        except OSError:
            continue
        if folder == out_dir:
            raise DicomExportError(f"{out_dir} holds the source images; choose another folder")


def _write(ds: Dataset, target: Path) -> None:
    """Write through a temporary name so that a failed write never leaves half a file."""
    partial = target.with_name(target.name + ".part")
    try:
        dcmwrite(partial, ds, enforce_file_format=True)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DicomExportError(f"could not write {target}: {exc.strerror or exc}") from exc
