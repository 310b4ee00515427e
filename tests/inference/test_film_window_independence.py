"""A film of more than 256 grey levels gets the same lungs and the same answers whatever VOI window its file carries:
the models and the lung U-Net read it through its auto window (``imaging.window_presets.film_reading_window``), in
the app and in the trainer alike. Before, the built-in 15-bit film's cascade p(COVID-19) ran 0.32-0.90 over four
windows."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference.inputs import reading_window
from covidviewer.io import load_path, sample_paths


def _narrow_window(volume) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    low, high = np.percentile(volume.pixels[0], (1, 99))
    return float(low + high) / 2, float(high - low) * 0.6


def test_every_radiograph_model_answers_the_same_through_another_voi_window() -> None:
    volume = load_path(sample_paths()["chest_cr"])  # 15 bits, its own window L 17,767 / W 30,000
    other = replace(volume, default_window=_narrow_window(volume))
    predictor = Predictor(device="cpu")
    options = RunOptions(method="none", date_check=False)
    first, second = predictor.analyse(volume, "all", options), predictor.analyse(other, "all", options)
    answered = [(a, b) for a, b in zip(first.models, second.models) if a.status == "ok"]
    assert {a.model for a, _ in answered} >= {"dpn92_se", "cascade_semenet", "vgg16_ga"}
    for a, b in answered:
        assert a.model == b.model and a.answer == b.answer
        assert max(abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities) < 1e-4, a.model
    assert np.array_equal(first.lung_mask, second.lung_mask)


def test_the_gate_takes_the_film_for_what_it_is_through_a_narrow_voi_window() -> None:
    """Through 0.4 of its range's width the image-kind model took the built-in film for "other" (0.96), through 0.6
    for a CT slice (0.55): it now judges the film through its auto window, as the models read it."""
    volume = load_path(sample_paths()["chest_cr"])
    low, high = np.percentile(volume.pixels[0], (1, 99))
    narrow = replace(volume, default_window=(float(low + high) / 2, float(high - low) * 0.4))
    kind = Predictor(device="cpu").image_kind(narrow)
    assert kind is not None and kind.kind == "frontal chest radiograph" and kind.score > 0.9


def test_the_trainer_reads_a_16_bit_film_through_the_same_window_as_the_app(tmp_path: Path) -> None:
    from trainer.data.images import read_2d

    film = (np.random.default_rng(0).random((96, 80)) * 40000 + 1000).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "film.png"), film)
    _, trainer_window = read_2d(tmp_path / "film.png")
    volume = load_path(tmp_path / "film.png")
    assert trainer_window == reading_window(volume, ct_reader=False)
    assert trainer_window[1] < 0.99 * float(film.max() - film.min())  # its own 1-99% range, not the data range
