"""Training data for the film checks, built from real films only: the mirror check (``covidviewer.models.film_mirror``)
and the upright check (``covidviewer.models.film_upright``, ``trainer.data.film_upright``).

    python -m trainer make-film-mirror-data [--out data/film_mirror] [--shared ../shared/data]

writes ``OUT/labels.csv`` (path, label, patient_id, source, split) and, under ``OUT/<check's folder>/``, every frontal
chest film of the shared folder mirrored left-right (the upright check: turned 180 degrees) (git-ignored; never commit
them). The films as hung are referenced by absolute path, not copied. The labels cost nothing: every real film is hung
as read (upright, the patient's right on the viewer's left), and its mirror image is what a film stored mirrored looks
like, turned what a film stored upside down looks like.

Splits are by patient, as the image-kind model's (``trainer.data.image_kind.val_by_hash``): a patient's films
and their transformed copies are on one side, so the check is validated on patients it never saw.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from covidviewer.models.film_mirror import AS_HUNG, MIRRORED
from covidviewer.models.film_upright import UPRIGHT, UPSIDE_DOWN
from trainer.data.image_kind import FRONTAL, SHARED_DEFAULT, KindRow, _read_grey, chest_rows


@dataclass(frozen=True)
class FilmCheck:
    """A film check's two labels (the film as hung, its transformed copy), the copies' folder and the transform."""

    as_hung: str
    transformed: str
    folder: str
    transform: Callable[[np.ndarray], np.ndarray]
    command: str
    default_out: str


MIRROR_CHECK = FilmCheck(AS_HUNG, MIRRORED, "mirrored", lambda grey: grey[:, ::-1], "make-film-mirror-data",
                         "data/film_mirror")
UPRIGHT_CHECK = FilmCheck(UPRIGHT, UPSIDE_DOWN, "turned", lambda grey: grey[::-1, ::-1], "make-film-upright-data",
                          "data/film_upright")


def build(out: Path, shared: Path, check: FilmCheck = MIRROR_CHECK) -> list[KindRow]:
    """Write the transformed films and return every row (a film as hung and its transformed copy, one split)."""
    (out / check.folder).mkdir(parents=True, exist_ok=True)
    rows: list[KindRow] = []
    for row, path in chest_rows(shared):
        if row.label != FRONTAL:
            continue
        name = hashlib.sha256(str(path).encode()).hexdigest()[:24] + ".png"
        transformed = out / check.folder / name
        if not transformed.is_file():
            cv2.imwrite(str(transformed), np.ascontiguousarray(check.transform(_read_grey(path))))
        rows.append(KindRow(row.path, check.as_hung, row.patient_id, row.source, row.split))
        rows.append(KindRow(str(transformed.resolve()), check.transformed, row.patient_id, row.source, row.split))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "patient_id", "source", "split"])
        writer.writerows((r.path, r.label, r.patient_id, r.source, r.split) for r in rows)
    return rows


def main(argv: list[str] | None = None, check: FilmCheck = MIRROR_CHECK) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m trainer {check.command}", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(check.default_out))
    parser.add_argument("--shared", type=Path, default=SHARED_DEFAULT)
    args = parser.parse_args(argv)
    rows = build(args.out, args.shared, check)
    if not rows:
        print(f"no frontal chest films found under {args.shared}", file=sys.stderr)
        return 1
    films = len(rows) // 2
    val = sum(r.split == "val" for r in rows) // 2
    print(f"{films} frontal films ({val} of them validation), each {check.as_hung} and {check.transformed}: "
          f"{args.out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
