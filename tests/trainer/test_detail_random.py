"""``augment.detail_random``: the finest bands of each training film's model view set to a strength drawn the same
way for every label, so the strength of a film's fine detail (stronger on the adult COVID-19 films here) tells the
network nothing about its label."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from covidviewer.imaging.detail import band_rms
from covidviewer.imaging.preprocess import Preprocess
from trainer.data.augment import AugmentParams, item_rng, random_detail_bands
from trainer.data.datasets import ClassificationDataset
from trainer.data.images import ImageCache
from trainer.data.labels import Row

RANGES = ((0.012, 0.060), (0.018, 0.060))


def test_off_it_draws_nothing_and_on_it_draws_each_band_inside_its_range() -> None:
    rng = item_rng(0, 0, 0)
    assert random_detail_bands(AugmentParams(), rng) is None
    assert rng.random() == item_rng(0, 0, 0).random()  # no draw: every recipe without it keeps its random stream
    draws = np.array([random_detail_bands(AugmentParams(detail_random=1.0, detail_random_range=RANGES), item_rng(0, 0, i))
                      for i in range(400)])
    for band, (low, high) in enumerate(RANGES):
        assert draws[:, band].min() >= low and draws[:, band].max() <= high
        # log-uniform: the geometric middle of the range splits the draws about in half
        assert 0.4 < np.mean(draws[:, band] < np.sqrt(low * high)) < 0.6
    some = [random_detail_bands(AugmentParams(detail_random=0.5, detail_random_range=RANGES), item_rng(1, 0, i)) for i in range(200)]
    assert 70 < sum(s is None for s in some) < 130


def test_a_recipe_sets_it_and_its_ranges() -> None:
    params = AugmentParams.from_recipe({"detail_random": 1.0, "detail_random_range": [[0.01, 0.05]]})
    assert params.detail_random == 1.0 and params.detail_random_range == ((0.01, 0.05),)


def _film(tmp_path: Path, name: str, blur: float) -> Path:
    film = np.random.default_rng(0).uniform(0, 255, (96, 96)).astype(np.float32)
    film = cv2.GaussianBlur(film, (0, 0), blur)
    film = (film - film.min()) / (film.max() - film.min()) * 255
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), film.astype(np.uint8))
    return path.resolve()


@pytest.mark.parametrize("spec_bands", [(), (0.002, 0.039, 0.059)])
def test_a_training_films_finest_detail_no_longer_tells_a_sharp_film_from_a_smooth_one(tmp_path: Path, spec_bands) -> None:  # type: ignore[no-untyped-def]
    pp = Preprocess(kind="cxr", size=(64, 64), channels=1, mean=(0.0,), std=(1.0,), fit="stretch", detail_bands=spec_bands)
    rows = [Row(_film(tmp_path, "sharp", 0.7), "COVID-19", 2, "p1", ""), Row(_film(tmp_path, "smooth", 2.5), "normal", 0, "p2", "")]
    plain = ClassificationDataset(rows, pp, ImageCache())
    if not spec_bands:  # the films' own detail: far apart
        own = [band_rms(plain[i]["image"][0].numpy(), 1)[0] for i in range(2)]
        assert own[0] > 2 * own[1]
    randomised = ClassificationDataset(rows, pp, ImageCache(), AugmentParams(detail_random=1.0, detail_random_range=RANGES), seed=0)
    for index in range(2):
        finest = []
        for epoch in range(12):
            randomised.set_epoch(epoch)
            unit = randomised[index]["image"][0].numpy()
            finest.append(band_rms(unit, 1)[0])
        # set to the drawn strength (one pass of the pyramid, so only about), whatever the film's own
        assert 0.6 * RANGES[0][0] < min(finest) and max(finest) < 1.4 * RANGES[0][1] and np.std(finest) > 0.005
