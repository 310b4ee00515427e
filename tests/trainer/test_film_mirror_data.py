"""The mirror check's training data: every frontal film as hung (referenced, not copied) and its mirror image
(written), one patient's films and their mirror images on one side of the split, laterals and CT slices left
out, and a csv the trainer reads. Films here are generated stand-ins in a temporary "shared" folder."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from test_image_kind_data import _fake_shared

from covidviewer.models.film_mirror import AS_HUNG, MIRRORED
from trainer.data.film_mirror import build


def test_every_frontal_film_is_paired_with_its_mirror_image_on_one_side_of_the_split(tmp_path: Path) -> None:
    shared = _fake_shared(tmp_path / "shared")
    out = tmp_path / "out"
    rows = build(out, shared)
    assert len(rows) == 2 * 60  # 30 films of cxr and 30 of cxr_adult, each both ways; no lateral, no CT slice
    sides = defaultdict(set)
    for hung, mirrored in zip(rows[::2], rows[1::2]):
        assert (hung.label, mirrored.label) == (AS_HUNG, MIRRORED)
        assert Path(hung.path).is_relative_to(shared) and Path(mirrored.path).is_relative_to(out)
        original = cv2.imread(hung.path, cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(cv2.imread(mirrored.path, cv2.IMREAD_GRAYSCALE), original[:, ::-1])
        sides[hung.patient_id] |= {hung.split, mirrored.split}
    assert all(len(s) == 1 for s in sides.values()) and {r.split for r in rows} == {"train", "val"}
    with open(out / "labels.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)


def test_the_trainer_reads_the_csv(tmp_path: Path) -> None:
    from covidviewer.models import get_spec
    from trainer.data.labels import read_labels

    out = tmp_path / "out"
    build(out, _fake_shared(tmp_path / "shared", patients=6))
    report = read_labels(out / "labels.csv", classes=get_spec("film_mirror").classes)
    assert not report.skipped and len(report.rows) == 24


def test_the_upright_check_pairs_every_frontal_film_with_it_turned_upside_down(tmp_path: Path) -> None:
    from covidviewer.models.film_upright import UPRIGHT, UPSIDE_DOWN
    from trainer.data.film_mirror import UPRIGHT_CHECK

    out = tmp_path / "out"
    rows = build(out, _fake_shared(tmp_path / "shared", patients=6), UPRIGHT_CHECK)
    assert len(rows) == 24
    for upright, turned in zip(rows[::2], rows[1::2]):
        assert (upright.label, turned.label) == (UPRIGHT, UPSIDE_DOWN) and upright.split == turned.split
        original = cv2.imread(upright.path, cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(cv2.imread(turned.path, cv2.IMREAD_GRAYSCALE), original[::-1, ::-1])
        assert Path(turned.path).parent == out / "turned"
