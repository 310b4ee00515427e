"""Rows whose csv label a look at the film contradicts, excluded by their image's SHA-256.

``../shared/data`` is read-only and its curators removed visibly abnormal "No Finding" films from the NIH and
RSNA normals only. A few ieee8023 films labelled normal show plain airspace disease (panels of a paper's figure
beside the same patient's COVID-19 films). Trained on, they teach a model to call such a film normal; in the
audit they count as "normal films called COVID-19" where calling them COVID-19 is right. The review file lists
them with what was seen and by whom; the recipe's ``data.label_review`` names the file ("bundled" = the one next
to this module, "" = none). Rows are matched by the SHA-256 of the image file, so a copy of the data set
elsewhere matches and another data set never does. Exclusion happens after the split, which is made over the
csvs' raw rows, so every other row keeps its split and earlier runs' validation films stay the same.
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

BUNDLED = "bundled"
BUNDLED_PATH = Path(__file__).with_name("label_review.csv")


@dataclass(frozen=True)
class ReviewedImage:
    sha256: str
    path: str
    csv_label: str
    finding: str


def read_review(setting: str) -> list[ReviewedImage]:
    """The reviewed images that ``setting`` (a recipe's ``data.label_review``) names; [] for ""."""
    if not setting:
        return []
    path = BUNDLED_PATH if setting == BUNDLED else Path(setting)
    with open(path, newline="", encoding="utf-8") as fh:
        return [ReviewedImage(r["sha256"].lower(), r["path"], r["csv_label"], r["finding"])
                for r in csv.DictReader(fh) if r.get("action", "exclude") == "exclude"]


def reviewed_out(rows: Sequence, review: Sequence[ReviewedImage]) -> list:
    """The rows whose image is in ``review`` with the same csv label (a relabelled copy is a new question).
    Only files named like a reviewed one are hashed, so a large data set costs nothing."""
    names = {Path(r.path).name for r in review}
    wanted = {(r.sha256, r.csv_label) for r in review}
    return [row for row in rows if Path(row.path).name in names
            and (hashlib.sha256(Path(row.path).read_bytes()).hexdigest(), row.csv_label) in wanted]
