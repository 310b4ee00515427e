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
    folder_pictures,
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


def test_folder_pictures_once_each_grey_shrunk_and_stamps_flattened(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    wallpaper = tmp_path / "wallpapers" / "Hills" / "contents" / "images"
    wallpaper.mkdir(parents=True)
    cv2.imwrite(str(wallpaper / "1920x1080.png"), cv2.resize(photo, (1920, 1080)))
    cv2.imwrite(str(wallpaper / "1280x800.jpg"), cv2.resize(photo, (1280, 800)))  # the same wallpaper again
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    drawn = []
    for i in range(6):
        stamp = np.zeros((100, 100, 4), np.uint8)
        grey = rng.integers(1, 255, (50, 50), dtype=np.uint8)
        stamp[25:75, 25:75] = np.dstack([grey, grey, grey, np.full_like(grey, 255)])  # opaque, transparent around it
        cv2.imwrite(str(stamps / f"stamp{i}.png"), stamp)
        drawn.append(grey)
    cv2.imwrite(str(stamps / "copy.png"), photo[:300, :300])
    cv2.imwrite(str(stamps / "copy_again.png"), photo[:300, :300])  # a duplicate under another name
    (stamps / "notes.txt").write_text("not a picture")

    found = list(folder_pictures([tmp_path / "wallpapers", stamps, tmp_path / "missing"]))
    groups = [g for g, _, _ in found]
    assert groups.count("pictures:wallpapers/Hills/contents/images") == 1 and len(groups) == len(set(groups))
    assert not any(g.endswith("copy_again.png") for g in groups) and len(found) == 1 + 6 + 1
    assert f"pictures folder {tmp_path / 'missing'} not found" in capsys.readouterr().err
    for group, _, image in found:
        assert image.dtype == np.uint8 and image.ndim == 2 and max(image.shape) <= 768
    corners = {int(image[0, 0]) for group, _, image in found if group.startswith("pictures:stamps/stamp")}
    assert corners == {0, 255}  # transparent parts laid on black for some stamps, on white for others
    stamped = {group: image for group, _, image in found if group.startswith("pictures:stamps/stamp")}
    for i, grey in enumerate(drawn):  # the opaque part is the stamp itself
        np.testing.assert_array_equal(stamped[f"pictures:stamps/stamp{i}.png"][25:75, 25:75], grey)
