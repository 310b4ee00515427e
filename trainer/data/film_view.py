"""Training data for the view model (``covidviewer.models.film_view``): adult frontal films whose view is known.

    python -m trainer make-film-view-data --views Data_Entry_2017_v2020.csv.gz [--out data/film_view] [--shared ../shared/data]

writes ``OUT/labels.csv`` (path, label, patient_id, source, split) with label "AP" or "PA"; the films are
referenced by absolute path, never copied. A film's view comes from the view tables (``--views``: NIH's own
``Data_Entry_2017_v2020.csv`` names every NIH film's) or its csv's ``view`` column (ieee8023's, Figure1's), as
``trainer.data.views`` reads them everywhere; a film of unknown view (RSNA's, most of Figure1's) is left out.

Children's films are left out too: every one here is Kermany's and AP, so with them "a child" would read as "AP".
``lung_seg`` holds ieee8023 films that ``cxr`` already has. Splits are by patient, as the image-kind model's
(``trainer.data.image_kind.val_by_hash``), so the view model is validated on patients it never saw.
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

from covidviewer.models.film_view import FILM_VIEWS
from trainer.data.image_kind import FRONTAL, SHARED_DEFAULT, KindRow, chest_rows
from trainer.data.views import csv_views, film_key, read_view_tables

#: the frontal-film folders read (``lung_seg``'s films are ``cxr``'s ieee8023 films again)
FOLDERS = ("cxr", "cxr_adult")
#: sources whose films are children's
CHILD_SOURCES = ("Kermany",)


def build(out: Path, shared: Path, view_tables: list[Path]) -> list[KindRow]:
    """Write ``out/labels.csv`` and return its rows: every adult frontal film of a known AP or PA view."""
    table = read_view_tables(view_tables)
    own = csv_views(shared / folder / "labels.csv" for folder in FOLDERS if (shared / folder / "labels.csv").is_file())
    rows = []
    for row, path in chest_rows(shared):
        folder = row.source.split("/")[0]
        if row.label != FRONTAL or folder not in FOLDERS or any(child in row.source for child in CHILD_SOURCES):
            continue
        view = table.get(film_key(path)) or own.get(film_key(path), "")
        if view in FILM_VIEWS:
            rows.append(KindRow(row.path, view, row.patient_id, row.source, row.split))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "patient_id", "source", "split"])
        writer.writerows((r.path, r.label, r.patient_id, r.source, r.split) for r in rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer make-film-view-data", description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=Path, action="append", default=[],
                        help="a view table (NIH's Data_Entry_2017_v2020.csv[.gz]; the torchxrayvision wheel carries it); repeat for several")
    parser.add_argument("--out", type=Path, default=Path("data/film_view"))
    parser.add_argument("--shared", type=Path, default=SHARED_DEFAULT)
    args = parser.parse_args(argv)
    rows = build(args.out, args.shared, args.views)
    if not rows:
        print(f"no adult frontal film of a known view under {args.shared}", file=sys.stderr)
        return 1
    counts = Counter((r.split, r.label) for r in rows)
    print(f"{len(rows)} adult frontal films of a known view ({', '.join(f'{s} {v} {n}' for (s, v), n in sorted(counts.items()))}): "
          f"{args.out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
