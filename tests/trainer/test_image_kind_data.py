"""The image-kind training data: labels, group-level splits (a source image and all its transforms on
one side), augmented laterals only in training, negatives from installed packages, and a csv the
trainer reads. Chest images here are generated stand-ins in a temporary "shared" folder."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data.image_kind import (
    CT_SLICE,
    FRONTAL,
    LATERAL,
    LATERAL_COPIES,
    OTHER,
    TRANSFORMS,
    build,
    photo_negatives,
    transform_film,
)


def _fake_shared(root: Path, patients: int = 30) -> Path:
    rng = np.random.default_rng(0)
    for folder, n in (("cxr", patients), ("cxr_adult", patients), ("cxr_lateral", patients), ("ct_slices", patients)):
        (root / folder / "images").mkdir(parents=True)
        with open(root / folder / "labels.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label", "patient_id", "source", "split"])
            for i in range(n):
                name = f"images/{folder}_{i}.png"
                cv2.imwrite(str(root / folder / name), rng.integers(0, 255, (80, 72), dtype=np.uint8))
                split = "val" if folder == "ct_slices" and (i // 2) % 4 == 0 else "train"
                patient = f"ct:{i // 2}" if folder == "ct_slices" else f"src:{i // 2}"  # sources namespace their ids
                writer.writerow([name, "x", patient, f"{folder}-source", split])
    return root


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_build_labels_and_group_level_splits(tmp_path: Path) -> None:
    shared = _fake_shared(tmp_path / "shared")
    out = tmp_path / "out"
    build(out, shared, negatives=False)
    rows = _rows(out)
    labels = {r["label"] for r in rows}
    assert labels == {FRONTAL, LATERAL, CT_SLICE, OTHER}
    # no group on both sides (transforms share their source patient's id)
    sides = defaultdict(set)
    for r in rows:
        sides[r["patient_id"]].add(r["split"])
        assert (out / r["path"]).is_file()
    assert all(len(s) == 1 for s in sides.values()), {p: s for p, s in sides.items() if len(s) > 1}
    assert {r["split"] for r in rows} == {"train", "val"}
    # augmented laterals: training only, LATERAL_COPIES per training film; validation keeps the real films
    real_train = [r for r in rows if r["label"] == LATERAL and r["split"] == "train" and "augmented" not in r["source"]]
    augmented = [r for r in rows if r["label"] == LATERAL and "augmented" in r["source"]]
    assert len(augmented) == LATERAL_COPIES * len(real_train) and all(r["split"] == "train" for r in augmented)
    # ct_slices keep their own split
    ct = [r for r in rows if r["label"] == CT_SLICE]
    assert sum(r["split"] == "val" for r in ct) == 8
    # shared images are referenced, never copied into the output folder
    generated = [r for r in rows if not Path(r["path"]).is_absolute()]
    assert all(Path(r["path"]).is_relative_to(tmp_path / "shared") for r in rows if r not in generated)
    assert len(list(out.rglob("*.png"))) == len(generated)
    assert all("augmented" in r["source"] or "transformed" in r["source"] for r in generated)


def test_the_trainer_reads_the_csv(tmp_path: Path) -> None:
    from covidviewer.models import get_spec
    from trainer.data.labels import read_labels

    out = tmp_path / "out"
    build(out, _fake_shared(tmp_path / "shared", patients=6), negatives=False)
    report = read_labels(out / "labels.csv", classes=get_spec("image_kind").classes)
    assert not report.skipped and len(report.rows) == len(_rows(out))


@pytest.mark.parametrize("how", TRANSFORMS)
def test_transforms_change_the_film(how: str) -> None:
    image = np.arange(60 * 40, dtype=np.uint8).reshape(60, 40)
    out = transform_film(image, how, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.ndim == 2
    if how in ("rot90", "rot270"):
        assert out.shape == (40, 60)
    elif how == "corner":
        assert out.shape[0] < 60 and out.shape[1] < 40
    else:
        assert out.shape == image.shape and not np.array_equal(out, image)


def test_photographs_come_from_scikit_image_offline() -> None:
    photos = list(photo_negatives())
    assert len(photos) >= 10
    assert all(img.dtype == np.uint8 and img.ndim == 2 for _, _, img in photos)
    assert len({group for group, _, _ in photos}) == len(photos)  # one group per photograph


def test_chest_dicoms_are_never_negatives() -> None:
    from trainer.data.image_kind import is_negative

    # RG1_UNCI.dcm (pydicom-data): a PA chest CR, the viewer's sample; it must not be taught as "other"
    assert not is_negative("RG1_UNCI.dcm", "CR", {"body_part": "CHEST", "study_description": "THORAX"})
    assert not is_negative("CT_small.dcm", "CT", {})  # a CT naming no body part could be a chest
    assert is_negative("693_UNCI.dcm", "CT", {})  # the known head CT
    assert is_negative("bad_sequence.dcm", "CT", {"body_part": "NECK"})
    assert is_negative("MR2_UNCI.dcm", "MR", {"series_description": "SHOULDER"})
