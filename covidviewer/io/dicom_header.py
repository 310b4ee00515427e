"""Reading DICOM headers: one tolerant file reader and a per-file summary used for grouping.

Only headers are read here (``stop_before_pixels``); pixels are decoded in ``dicom_series``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from covidviewer.io.errors import LoadError, exception_detail, os_reason
from covidviewer.io.view_position import view_from_code, view_from_words

# Files without the 128-byte preamble + "DICM" are read with force=True only when their name
# suggests DICOM, and accepted only if the forced parse found real DICOM attributes.
_DICOM_SUFFIXES = {"", ".dcm", ".dicom", ".dic", ".ima", ".img"}
_REQUIRED_FOR_FORCED = ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality")


class NotDicomError(LoadError):
    """The file is not DICOM at all (a scan skips it; loading it directly is a LoadError like any other)."""


def read_dataset(path: Path, stop_before_pixels: bool = False, defer_size: int | None = None) -> Dataset:
    """Read a DICOM file; raise NotDicomError for non-DICOM files, LoadError for broken DICOM.

    defer_size: values larger than this many bytes are read only when accessed.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise LoadError(f"{path.name}: empty file (0 bytes)", path)
        return _with_transfer_syntax(
            pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=False, defer_size=defer_size)
        )
    except InvalidDicomError:
        pass
    except LoadError:
        raise
    except (OSError, EOFError) as e:
        raise LoadError(f"{path.name}: cannot read the file ({os_reason(e)})", path) from e
    except Exception as e:  # pydicom raises many types on corrupt headers
        raise LoadError(f"{path.name}: corrupt DICOM header ({exception_detail(e)})", path) from e
    if path.suffix.lower() not in _DICOM_SUFFIXES:
        raise NotDicomError(f"{path.name}: not a DICOM file", path)
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True, defer_size=defer_size)
        forced_ok = all(k in ds for k in _REQUIRED_FOR_FORCED)
    except Exception as e:
        raise NotDicomError(f"{path.name}: not a DICOM file ({type(e).__name__})", path) from e
    if not forced_ok:
        if "ACR-NEMA" in optional_text(ds, "RecognitionCode").upper():
            # the standard before DICOM 3.0 (1985-1993): no study or series identifiers to group its images by
            raise LoadError(f"{path.name}: an ACR-NEMA file (the standard before DICOM 3.0, with no study or series "
                            "identifiers), not read; re-save it as DICOM 3.0 first", path)
        raise NotDicomError(f"{path.name}: not a DICOM file (no DICOM preamble or identifying attributes)", path)
    return _with_transfer_syntax(ds)



def _with_transfer_syntax(ds: Dataset) -> Dataset:
    """Record the encoding pydicom detected when the file meta has no Transfer Syntax UID.

    Bare datasets (no preamble / file meta, written by old devices) are uncompressed by
    definition; the pixel decoders need the syntax to be stated.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return ds
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian
    return ds


def text(ds: Dataset, keyword: str, default: str = "") -> str:
    """An attribute as display text; the first value of a multi-valued one."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else default
    return str(value).strip()


def joined(ds: Dataset, keyword: str) -> str:
    """Every value of a multi-valued attribute, joined by a backslash as written ("ORIGINAL\\PRIMARY\\LOCALIZER");
    "" where it is absent or cannot be read."""
    try:
        value = ds.get(keyword)
    except Exception:  # a broken VR: the attribute is simply unknown, as in ``optional_text``
        return ""
    if value is None or value == "":
        return ""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return str(value).strip()
    return "\\".join(str(v).strip() for v in value)


def is_localizer(image_type: str) -> bool:
    """Whether an ImageType ("ORIGINAL\\PRIMARY\\LOCALIZER", as ``joined`` gives it) is a CT localizer's (a scout,
    a topogram): a projection taken to plan a scan, never a slice of its series' volume."""
    return "LOCALIZER" in image_type.upper().split("\\")


def optional_text(ds: Dataset, keyword: str) -> str:
    """``text`` for an attribute nothing depends on: "" when reading it fails. pydicom converts raw
    elements on first access, and asking for an absent tag can convert a neighbour with a broken VR
    (the catalogue's unknown_vr.dcm): a date must not make a readable image unreadable."""
    try:
        return text(ds, keyword)
    except Exception:  # any decoder error: the attribute is simply unknown
        return ""


def header_view(ds: Dataset) -> str:
    """The radiograph's view: its ViewPosition as written ("PA", "LL", ...) where there is one, else "AP", "PA" or
    "lateral" from the View Code Sequence (a DX image must code its view there, while ViewPosition may be empty), else
    from the series' wording ("CHEST PA", a CR reader's processing description); "" where none tells. The study's
    wording is left out: one study holds a PA and a lateral film."""
    written = optional_text(ds, "ViewPosition")
    if written:
        return written
    try:
        items = list(ds.get("ViewCodeSequence") or [])
    except Exception:  # a broken sequence: the view is simply unknown
        items = []
    for item in items:
        view = view_from_code(item.get("CodeValue", ""), item.get("CodeMeaning", ""))
        if view:
            return view
    for keyword in ("SeriesDescription", "AcquisitionDeviceProcessingDescription"):
        view = view_from_words(optional_text(ds, keyword))
        if view:
            return view
    return ""


def first_float(value: Any) -> float | None:
    """First number of a possibly multi-valued DS/IS attribute, None if absent or not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, (pydicom.multival.MultiValue, list, tuple)):
        if not len(value):
            return None
        value = value[0]
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def floats(value: Any, n: int) -> tuple[float, ...] | None:
    """Exactly n numbers from a multi-valued attribute, else None."""
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def functional_value(ds: Dataset, seq: str, item_keyword: str, frame: int | None = 0) -> Any:
    """An attribute from the Shared, else the (first or given) Per-frame Functional Groups."""
    for groups_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = ds.get(groups_kw)
        if not groups:
            continue
        idx = 0 if groups_kw == "SharedFunctionalGroupsSequence" else (frame or 0)
        if idx >= len(groups):
            continue
        inner = groups[idx].get(seq)
        if inner and item_keyword in inner[0]:
            return inner[0].get(item_keyword)
    return None


def orientation_of(ds: Dataset) -> tuple[float, ...] | None:
    """ImageOrientationPatient (6 direction cosines), from functional groups for enhanced files."""
    iop = floats(ds.get("ImageOrientationPatient"), 6)
    if iop is None:
        iop = floats(functional_value(ds, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    if iop is None or not np.isfinite(iop).all() or np.linalg.norm(np.cross(iop[:3], iop[3:])) < 1e-3:
        return None
    return iop


def position_of(ds: Dataset, frame: int | None = None) -> tuple[float, ...] | None:
    """ImagePositionPatient of the file, or of one frame of an enhanced multi-frame file."""
    if frame is not None:
        groups = ds.get("PerFrameFunctionalGroupsSequence")
        if groups and frame < len(groups):
            plane = groups[frame].get("PlanePositionSequence")
            if plane:
                return floats(plane[0].get("ImagePositionPatient"), 3)
    ipp = floats(ds.get("ImagePositionPatient"), 3)
    if ipp is None:
        ipp = floats(functional_value(ds, "PlanePositionSequence", "ImagePositionPatient"), 3)
    return ipp


def rescale_of(ds: Dataset) -> tuple[float, float]:
    """(slope, intercept), top level or from the Pixel Value Transformation functional group."""
    slope = first_float(ds.get("RescaleSlope"))
    intercept = first_float(ds.get("RescaleIntercept"))
    if slope is None:
        slope = first_float(functional_value(ds, "PixelValueTransformationSequence", "RescaleSlope"))
        intercept = first_float(functional_value(ds, "PixelValueTransformationSequence", "RescaleIntercept"))
    return (slope if slope not in (None, 0.0) else 1.0, intercept or 0.0)  # type: ignore[return-value]


def window_of(ds: Dataset) -> tuple[float, float] | None:
    """The first WindowCenter/WindowWidth pair (top level or Frame VOI LUT functional group)."""
    windows = windows_of(ds)
    return (windows[0][0], windows[0][1]) if windows else None


def windows_of(ds: Dataset) -> list[tuple[float, float, str]]:
    """Every (center, width, explanation) the file offers, in its order (a CR's "NORMAL\\HARDER\\SOFTER", a CT's
    lung and mediastinum); top level, else the Frame VOI LUT functional group. Pairs without a positive width are
    left out; the explanation is "" where the file gives none."""
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    explanations = ds.get("WindowCenterWidthExplanation")
    if first_float(centers) is None or first_float(widths) is None:
        centers = functional_value(ds, "FrameVOILUTSequence", "WindowCenter")
        widths = functional_value(ds, "FrameVOILUTSequence", "WindowWidth")
        explanations = functional_value(ds, "FrameVOILUTSequence", "WindowCenterWidthExplanation")
    said = [str(e).strip() for e in _values(explanations)] if explanations is not None else []
    windows: list[tuple[float, float, str]] = []
    for i, (center, width) in enumerate(zip(_values(centers), _values(widths))):
        c, w = first_float(center), first_float(width)
        if c is not None and w is not None and w > 0:
            windows.append((c, w, said[i] if i < len(said) else ""))
    return windows


def _values(value: Any) -> list[Any]:
    """A multi-valued attribute's values; a single value as a one-item list."""
    return list(value) if isinstance(value, (pydicom.multival.MultiValue, list, tuple)) else [value]


def voi_function_of(ds: Dataset) -> str:
    """"SIGMOID" where the file's VOI LUT Function (top level or Frame VOI LUT functional group) says so and a window
    is given for it, else "LINEAR" (the default, and LINEAR_EXACT, which differs by half a grey level)."""
    function = text(ds, "VOILUTFunction") or str(functional_value(ds, "FrameVOILUTSequence", "VOILUTFunction") or "")
    return "SIGMOID" if function.strip().upper() == "SIGMOID" and window_of(ds) is not None else "LINEAR"


@dataclass
class DicomFileInfo:
    """What grouping and splitting need to know about one DICOM file (header only)."""

    path: Path
    study_uid: str
    series_uid: str
    sop_uid: str
    modality: str
    patient_name: str
    patient_id: str
    study_date: str
    study_description: str
    accession: str
    series_description: str
    series_number: int | None
    body_part: str
    view_position: str
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    photometric: str
    transfer_syntax: str
    instance_number: int | None
    orientation: tuple[float, ...] | None
    position: tuple[float, ...] | None
    localizer: bool = False  # a CT scout stored in its axial series: an image of its own, not a slice (grouping)


def file_info(path: Path, ds: Dataset) -> DicomFileInfo:
    """Summarise a header read by ``read_dataset(path, stop_before_pixels=True)``."""
    number = first_float(ds.get("SeriesNumber"))
    instance = first_float(ds.get("InstanceNumber"))
    tsyntax = ds.file_meta.get("TransferSyntaxUID", "") if hasattr(ds, "file_meta") else ""
    return DicomFileInfo(
        path=Path(path),
        study_uid=text(ds, "StudyInstanceUID", "unknown-study"),
        series_uid=text(ds, "SeriesInstanceUID", f"unknown-series:{Path(path).parent}"),
        sop_uid=text(ds, "SOPInstanceUID", str(path)),
        modality=text(ds, "Modality", "OT"),
        patient_name=text(ds, "PatientName"),
        patient_id=text(ds, "PatientID"),
        study_date=text(ds, "StudyDate"),
        study_description=text(ds, "StudyDescription"),
        accession=text(ds, "AccessionNumber"),
        series_description=text(ds, "SeriesDescription"),
        series_number=int(number) if number is not None else None,
        body_part=text(ds, "BodyPartExamined"),
        view_position=header_view(ds),
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        frames=int(first_float(ds.get("NumberOfFrames")) or 1),
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
        photometric=text(ds, "PhotometricInterpretation"),
        transfer_syntax=str(tsyntax),
        instance_number=int(instance) if instance is not None else None,
        orientation=orientation_of(ds),
        position=position_of(ds),
        localizer=is_localizer(joined(ds, "ImageType")),
    )


def expected_pixel_bytes(ds: Dataset) -> int | None:
    """Bytes of native (uncompressed) pixel data, None for compressed transfer syntaxes."""
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsyntax is not None and tsyntax.is_compressed:
        return None
    bits = int(ds.get("BitsAllocated", 0) or 0)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if not (bits and rows and cols):
        return None
    frames = int(first_float(ds.get("NumberOfFrames")) or 1)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp == 3 and text(ds, "PhotometricInterpretation") == "YBR_FULL_422":
        spp = 2  # each pair of pixels shares one Cb and one Cr: two samples a pixel (PS3.3 C.7.6.3.1.2)
    return (rows * cols * frames * spp * bits + 7) // 8


# Values larger than this are skipped (not read) when scanning headers: pixel data, big LUTs.
SCAN_DEFER_BYTES = 1024
_UNDEFINED_LENGTH = 0xFFFFFFFF


def pixel_data_problem(ds: Dataset, file_size: int) -> str | None:
    """Why the (deferred, unread) pixel data of a header read with ``SCAN_DEFER_BYTES`` is broken.

    Checks native pixel data only: the element must hold the bytes Rows x Columns x frames needs
    and must end inside the file. Returns None when nothing is wrong or it cannot be checked.
    """
    if "PixelData" not in ds:
        return None  # float pixel data: not checked here
    expected = expected_pixel_bytes(ds)
    raw = ds.get_item("PixelData", keep_deferred=True)
    length = getattr(raw, "length", None)
    start = getattr(raw, "value_tell", None)
    if expected is None or length is None or start is None or length == _UNDEFINED_LENGTH:
        return None
    if length < expected:
        return f"pixel data holds {length} bytes, the image size needs {expected}"
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if tsyntax is not None and tsyntax.is_deflated:
        return None  # positions are in the inflated stream: the file's size says nothing about them
    if start + expected > file_size:
        return f"truncated DICOM: the file ends {start + expected - file_size} bytes before the pixel data does"
    return None
