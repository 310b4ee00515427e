"""Every DICOM attribute of a file as display rows, for the viewer's tag inspector."""
from __future__ import annotations

from pathlib import Path

from pydicom.datadict import DicomDictionary, dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from covidviewer.io import dicom_header as hdr
from covidviewer.io.errors import LoadError, exception_detail, reading
from covidviewer.io.files import path_problem

TagRow = tuple[str, str, str, str]
_INDENT = "  "
_MAX_VALUE_CHARS = 200
# Larger values (pixel data, big LUTs) are not read from disk; their size is shown instead.
_DEFER_BYTES = 4096


def _value_text(elem) -> str:
    length = getattr(elem, "length", 0) or 0
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and length > 64:
        return f"<{length} bytes>"
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        text = elem.repval
    elif isinstance(value, (MultiValue, list, tuple)):
        text = "\\".join(str(v) for v in value[:64]) + ("\\..." if len(value) > 64 else "")
    else:
        text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _deferred_row(ds: Dataset, tag: BaseTag, depth: int) -> TagRow | None:
    """A row for a value left unread on disk (pixel data, large LUTs), without reading it."""
    raw = ds.get_item(tag, keep_deferred=True)
    if not isinstance(raw, RawDataElement) or raw.value is not None:
        return None
    vr = raw.VR or (dictionary_VR(tag) if tag in DicomDictionary else "UN")
    keyword = keyword_for_tag(tag) or "Private tag data"
    return (f"{_INDENT * depth}({tag.group:04X},{tag.element:04X})", keyword, str(vr), f"<{raw.length} bytes>")


def _walk(ds: Dataset, depth: int, rows: list[TagRow]) -> None:
    for key in list(ds.keys()):
        deferred = _deferred_row(ds, key, depth)
        if deferred is not None:
            rows.append(deferred)
            continue
        elem = ds[key]
        tag = f"{_INDENT * depth}({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or elem.name
        if elem.VR == "SQ":
            items = elem.value or []
            rows.append((tag, keyword, "SQ", f"{len(items)} item(s)"))
            for number, item in enumerate(items, start=1):
                rows.append((f"{_INDENT * (depth + 1)}Item {number}", "", "", ""))
                _walk(item, depth + 2, rows)
        else:
            rows.append((tag, keyword, str(elem.VR), _value_text(elem)))


def dicom_tags(path: Path | str) -> list[TagRow]:
    """(tag "(gggg,eeee)", keyword, VR, value text) for the file meta and every data element.

    Elements inside sequences follow their sequence, indented by two spaces per level (the tag
    text carries the indentation); "Item n" rows separate sequence items. Raises LoadError.
    """
    path = Path(path)
    problem = path_problem(path)
    if problem is not None:
        raise LoadError(f"{path.name}: {problem}", path)
    with reading(path, "corrupt DICOM header"):
        ds = hdr.read_dataset(path, defer_size=_DEFER_BYTES)
    rows: list[TagRow] = []
    try:
        if getattr(ds, "file_meta", None) is not None:
            _walk(ds.file_meta, 0, rows)
        _walk(ds, 0, rows)
    except Exception as e:  # a corrupt element deep in the file: show what was readable
        rows.append(("", "", "", f"<stopped: {exception_detail(e)}>"))
    return rows
