"""Training data for the mirror check (``covidviewer.models.film_mirror``), built from real films only.

    python -m trainer make-film-mirror-data [--out data/film_mirror] [--shared ../shared/data]

writes ``OUT/labels.csv`` (path, label, patient_id, source, split) and, under ``OUT/mirrored/``, every frontal
chest film of the shared folder mirrored left-right (git-ignored; never commit them). The films as hung are
referenced by absolute path, not copied. The labels cost nothing: every real film is hung as read (the
patient's right on the viewer's left), and its mirror image is what a film stored mirrored looks like.

Splits are by patient, as the image-kind model's (``trainer.data.image_kind.val_by_hash``): a patient's films
and their mirror images are on one side, so the check is validated on patients it never saw.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import cv2

from covidviewer.models.film_mirror import AS_HUNG, MIRRORED
from trainer.data.image_kind import FRONTAL, SHARED_DEFAULT, KindRow, _read_grey, chest_rows


def build(out: Path, shared: Path) -> list[KindRow]:
    """Write the mirrored films and return every row (a film as hung and its mirror image, one split)."""
    (out / "mirrored").mkdir(parents=True, exist_ok=True)
    rows: list[KindRow] = []
    for row, path in chest_rows(shared):
        if row.label != FRONTAL:
            continue
        name = hashlib.sha256(str(path).encode()).hexdigest()[:24] + ".png"
        mirrored = out / "mirrored" / name
        if not mirrored.is_file():
            cv2.imwrite(str(mirrored), _read_grey(path)[:, ::-1])
        rows.append(KindRow(row.path, AS_HUNG, row.patient_id, row.source, row.split))
        rows.append(KindRow(str(mirrored.resolve()), MIRRORED, row.patient_id, row.source, row.split))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "patient_id", "source", "split"])
        writer.writerows((r.path, r.label, r.patient_id, r.source, r.split) for r in rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer make-film-mirror-data", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/film_mirror"))
    parser.add_argument("--shared", type=Path, default=SHARED_DEFAULT)
    args = parser.parse_args(argv)
    rows = build(args.out, args.shared)
    if not rows:
        print(f"no frontal chest films found under {args.shared}", file=sys.stderr)
        return 1
    films = len(rows) // 2
    val = sum(r.split == "val" for r in rows) // 2
    print(f"{films} frontal films ({val} of them validation), each as hung and mirrored: {args.out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
