"""The shipped mirror check on real films: the built-in PA chest CR is read as stored and, mirrored, is read
mirrored back, with the same answer and the same map on the film as the reader sees it; on the validation patients
of its recipe it takes almost no film as hung for mirrored (skipped without ../shared/data)."""
from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from covidviewer.inference.film_mirror import MIRROR_MODEL, MIRRORED_AT
from covidviewer.io import load_path, sample_paths

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "resources" / "weights"
SHARED = REPO.parent / "shared" / "data"
MODEL = "small_cnn"  # the fastest chest X-ray model: the check is the same for every one

pytestmark = pytest.mark.skipif(not (SHIPPED / MIRROR_MODEL / "model.json").is_file(), reason="no shipped mirror weights")


@pytest.fixture
def predictor(monkeypatch: pytest.MonkeyPatch):
    from covidviewer.inference import Predictor
    from covidviewer.model_cards import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(SHIPPED))
    return Predictor(device="cpu")


def test_the_built_in_film_is_read_as_stored_and_its_mirror_image_mirrored_back(predictor):
    from covidviewer.inference import RunOptions

    film = load_path(sample_paths()["chest_cr"])
    mirrored = replace(film, pixels=np.ascontiguousarray(film.pixels[..., ::-1]))
    options = RunOptions(method="gradcam", date_check=False)
    as_stored, flipped = predictor.analyse(film, MODEL, options), predictor.analyse(mirrored, MODEL, options)
    assert as_stored.film_side.p_mirrored < 0.5 and flipped.film_side.p_mirrored >= MIRRORED_AT
    (first,), (second,) = as_stored.models, flipped.models
    assert second.probabilities == first.probabilities and second.answer == first.answer
    np.testing.assert_array_equal(second.heatmap, first.heatmap[:, ::-1])  # on the mirrored film as the reader sees it
    assert not any("mirror check" in w for w in first.warnings)
    assert any("mirrored back" in w for w in second.warnings)


@pytest.mark.skipif(not (SHARED / "cxr_adult" / "labels.csv").is_file(), reason="../shared/data is absent")
def test_films_as_hung_of_unseen_patients_are_read_as_stored(predictor):
    from trainer.data.image_kind import val_by_hash

    with open(SHARED / "cxr_adult" / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if val_by_hash(r["patient_id"])][::3]
    sides = [predictor.film_as_read(load_path(SHARED / "cxr_adult" / r["path"]))[1] for r in rows]
    assert len(sides) >= 40 and all(side is not None for side in sides)
    assert sum(side.mirrored for side in sides) <= 1  # type: ignore[union-attr]
