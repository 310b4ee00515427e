"""Which way the beam went through each training film: PA, AP or lateral, from the csv or a view table.

A film taken front to back (AP) is the portable film of a patient too ill to stand: the heart looks larger, the
scapulae lie over the lungs, lines and electrodes are common. Half the COVID-19 films here are AP (ieee8023's
metadata); NIH's normal films are 65% AP (NIH's own table). A network can learn "AP, so ill" instead of the lungs,
and the audit measures every figure per view (``trainer.view_check``).

Where a view comes from, first found wins:
- a view table (``data.view_tables``, ``--views``): a csv (or .csv.gz) with a file column (``path``, ``file`` or
  NIH's ``Image Index``) and a view column (``view`` or NIH's ``View Position``), matched on the file's name without
  its extension; NIH ChestX-ray14's ``Data_Entry_2017_v2020.csv.gz`` is one as it stands (the torchxrayvision wheel
  on PyPI carries it in ``torchxrayvision/data/``);
- the labels csv's own ``view`` column (ieee8023's "PA", "AP Supine", ...).

A view that says only "frontal", or nothing, is unknown ("").
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Iterable, Sequence

from covidviewer.io.view_position import AP, PA, normalised_view

__all__ = ["AP", "PA", "normalised_view", "read_view_table", "read_view_tables", "view_of", "csv_views"]

_FILE_COLUMNS = ("path", "file", "image_path", "Image Index")
_VIEW_COLUMNS = ("view", "View Position", "ViewPosition")


def film_key(path: str | Path) -> str:
    """A film's name without folder or extension: NIH's table says "00000061_012.png" of the pack's ".jpg"."""
    return Path(str(path).replace("\\", "/")).name.rsplit(".", 1)[0]


class ViewTableError(ValueError):
    """A view table that cannot be read, or has no file or view column."""


def _first_column(header: Sequence[str], names: Sequence[str]) -> str | None:
    return next((name for name in names if name in header), None)


def read_view_table(path: Path | str) -> dict[str, str]:
    """{film key: view} of one table; rows of an unknown view are left out."""
    path = Path(path)
    if not path.is_file():
        raise ViewTableError(f"view table not found: {path}")
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode("utf-8-sig") if path.suffix == ".gz" else raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    file_column, view_column = _first_column(header, _FILE_COLUMNS), _first_column(header, _VIEW_COLUMNS)
    if file_column is None or view_column is None:
        raise ViewTableError(f"{path}: a view table needs a file column ({', '.join(_FILE_COLUMNS)}) and a view column "
                             f"({', '.join(_VIEW_COLUMNS)}); it has {header}")
    table = {}
    for record in reader:
        view = normalised_view(record.get(view_column) or "")
        if view and record.get(file_column):
            table[film_key(record[file_column])] = view
    return table


def read_view_tables(paths: Iterable[Path | str]) -> dict[str, str]:
    """Every table's views together; an earlier table wins where two name one film."""
    merged: dict[str, str] = {}
    for path in paths:
        for key, view in read_view_table(path).items():
            merged.setdefault(key, view)
    return merged


def view_of(path: str | Path, csv_view: str, table: dict[str, str]) -> str:
    """A film's view: the table's, else its csv's, else "" (unknown)."""
    return table.get(film_key(path)) or normalised_view(csv_view)


def csv_views(csv_paths: Iterable[Path | str]) -> dict[str, str]:
    """{film key: view} from labels csvs' own ``view`` columns (films of unknown view left out)."""
    found: dict[str, str] = {}
    for csv_path in csv_paths:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            for record in csv.DictReader(fh):
                view = normalised_view(record.get("view") or "")
                name = record.get("path") or record.get("image_path") or ""
                if view and name:
                    found.setdefault(film_key(name), view)
    return found

