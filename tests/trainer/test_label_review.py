"""The label review: rows whose film contradicts their csv label leave training and the audit, matched by the
image's SHA-256, after the split (so every other row keeps its split)."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from trainer.config import load_recipe
from trainer.data.build import load_data
from trainer.data.label_review import BUNDLED_PATH, read_review
from covidviewer.models import get_spec

from conftest import SHARED


def _review(tmp_path: Path, image: Path, csv_label: str) -> Path:
    path = tmp_path / "review.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sha256", "dataset", "path", "csv_label", "action", "finding", "reviewed_by"])
        writer.writerow([hashlib.sha256(image.read_bytes()).hexdigest(), "generated", image.name, csv_label,
                         "exclude", "a blob where the label says none", "a test"])
    return path


def _load(csv_path: Path, review: str):
    recipe = load_recipe("dpn92_se", None, [f'data.label_review="{review}"', "data.val_fraction=0.34"])
    return load_data(get_spec("dpn92_se"), recipe, [csv_path])


def _split_of(bundle) -> dict[str, str]:
    return {str(row.path): name for name in ("train", "val", "test") for row in bundle.split.rows(name)}


def test_a_reviewed_row_leaves_its_split_and_every_other_row_keeps_its_own(tmp_path, generated_csv) -> None:
    csv_path = generated_csv(("covid", "normal", "bacterial", "viral"), per_label=6, with_masks=False)
    image = csv_path.parent / "normal_2.png"
    before = _load(csv_path, "")
    after = _load(csv_path, str(_review(tmp_path, image, "normal")))
    gone = {p: s for p, s in _split_of(before).items() if p not in _split_of(after)}
    assert list(gone) == [str(image.resolve())]
    assert {p: s for p, s in _split_of(before).items() if p not in gone} == _split_of(after)
    assert len(after.report.rows) == len(before.report.rows) - 1
    assert after.report.excluded["label review (the film contradicts its label)"] == 1
    assert "label review" in after.report.summary()


def test_the_same_image_under_another_label_or_another_image_under_its_name_is_kept(tmp_path, generated_csv) -> None:
    csv_path = generated_csv(("covid", "normal", "bacterial", "viral"), per_label=6, with_masks=False)
    image = csv_path.parent / "normal_2.png"
    relabelled = _load(csv_path, str(_review(tmp_path, image, "covid")))  # reviewed as a "covid" row: not this one
    assert len(relabelled.report.rows) == 24
    other = tmp_path / "other"
    other.mkdir()
    (other / image.name).write_bytes(b"not the same film")
    same_name = _load(csv_path, str(_review(tmp_path, other / image.name, "normal")))
    assert len(same_name.report.rows) == 24


def test_the_bundled_review_names_real_films_that_exist_with_that_label() -> None:
    review = read_review("bundled")
    assert review and all(len(r.sha256) == 64 and r.finding for r in review)
    labels = SHARED / "cxr" / "labels.csv"
    if not labels.is_file():
        pytest.skip("../shared/data is not here")
    csv_label = {row["path"]: row["label"] for row in csv.DictReader(open(labels, newline="", encoding="utf-8"))}
    for r in review:
        assert csv_label[r.path] == r.csv_label
        assert hashlib.sha256((SHARED / "cxr" / r.path).read_bytes()).hexdigest() == r.sha256
    assert BUNDLED_PATH.is_file()
