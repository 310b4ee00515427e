"""The weights this release ships: honest cards, the size limits, and real answers on the sample.

Every check runs over whatever resources/weights holds, so a newly exported model is held to the
same rules without editing this file.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from covidviewer.model_cards import installed_cards, weights_root

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "resources" / "weights"
CARDS = installed_cards(SHIPPED)
SHARD_LIMIT = 15 * 1024 * 1024
TOTAL_LIMIT = 250 * 1024 * 1024


def _sidecar(folder: str) -> dict:
    return json.loads((SHIPPED / folder / "model.json").read_text())


def _csvs(sidecar: dict) -> list[str]:
    data = sidecar["training"]["data_csv"]
    return [data] if isinstance(data, str) else list(data)


def _generated_drift(card_folder: str, labels_csv: Path) -> str:
    """How a generated labels.csv differs from the data the card records it trained on: the rows per split and label
    (``training.data.counts``), e.g. "val: other 274 rows, card 273"; "" where they agree."""
    import csv
    from collections import Counter

    counts = _sidecar(card_folder)["training"]["data"]["counts"]
    with open(labels_csv, newline="") as fh:
        rows = Counter((row["split"], row["label"]) for row in csv.DictReader(fh))
    return "; ".join(
        f"{split}: {label} {rows[split, label]} rows, card {n}"
        for split in ("train", "val") for label, n in counts.get(split, {}).items()
        if not label.startswith("_") and rows[split, label] != n
    )


def _training_films(card_folder: str, shared_data: Path) -> list[tuple[str, Path]]:
    """("folder/path", file) for every film of the training csvs a card names, in ../shared/data."""
    import csv

    films = []
    for folder in (Path(c).parent.name for c in _csvs(_sidecar(card_folder))):
        with open(shared_data / folder / "labels.csv", newline="") as fh:
            films += [(f"{folder}/{row['path']}", shared_data / folder / row["path"]) for row in csv.DictReader(fh)]
    return films


def test_something_is_shipped_and_the_total_stays_under_250_mib() -> None:
    assert CARDS, "no trained weights in resources/weights"
    sizes = [p.stat().st_size for p in SHIPPED.rglob("*.safetensors")]
    assert all(size <= SHARD_LIMIT for size in sizes)
    assert sum(sizes) < TOTAL_LIMIT


@pytest.mark.parametrize("card", CARDS, ids=[c.folder for c in CARDS])
def test_card_reports_validation_with_intervals_data_and_deviations(card) -> None:
    sidecar = _sidecar(card.folder)
    assert sidecar["dtype"] in ("float16", "int8")
    validation = sidecar["metrics"]["validation"]
    assert validation["n_patients"] > 0 and validation["ci95"], "validation metrics need 95% intervals"
    assert "val" in sidecar["training"]["data"]["counts"]
    assert card.validation and card.trained_on
    assert sidecar["training"]["device"] != "unknown (unfinished run)" or any("stopped" in d for d in card.deviations)
    csvs = _csvs(sidecar)
    if any(c.endswith("cxr/labels.csv") for c in csvs) and card.task == "classification":
        # the data's shortcut must be stated and measured for every chest X-ray classifier
        assert any("adult" in b and "child" in b for b in card.biases)
        assert "inside the U-Net lung mask" in card.lung_attention, "CXR classifiers report the share of attention in the lungs"
    if any(c.endswith("cxr_adult/labels.csv") for c in csvs) and card.task == "classification":
        # trained with adult films: audited on them, calibrated, with an OOD model
        assert card.audit.startswith("adult validation films:") and "probe" in card.audit
        assert sidecar["calibration"]["ood"] and card.calibration
    if card.task == "classification":
        # a collapsed model (one answer for every image) is not a trained model, whatever its accuracy
        predicted = [sum(column) for column in zip(*validation["confusion_matrix"])]
        assert sum(1 for n in predicted if n > 0) > 1, f"{card.name} gives one class for every validation image"
        assert validation["point"]["accuracy"] > max(validation["support"].values()) / sum(validation["support"].values())


def test_every_shipped_cxr_classifier_answers_on_the_built_in_radiograph(monkeypatch) -> None:
    from covidviewer.inference import Predictor, RunOptions
    from covidviewer.io import load_path, sample_paths
    from covidviewer.model_cards import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(SHIPPED))
    assert weights_root() == SHIPPED
    predictor = Predictor(device="cpu")
    volume = load_path(sample_paths()["chest_cr"])
    analysis = predictor.analyse(volume, "all", RunOptions(method="none"))
    # a cascade stage (seme_resnet50, seme_densenet169) answers inside its cascade's result
    answered = {r.model for r in analysis.models if r.status == "ok"}
    answered |= {stage.model for r in analysis.models if r.status == "ok" for stage in r.stages}
    expected = {c.name for c in CARDS if c.task == "classification" and _sidecar(c.folder)["spec"]["modality"] == "CXR" and not c.withdrawn}
    refused = {r.model: r.reason for r in analysis.models if r.status != "ok"}
    for card in CARDS:
        if card.withdrawn:  # kept on disk for the trainer, never offered
            assert card.name not in answered and "withdrawn" in refused.get(card.name, "withdrawn"), refused
    assert expected <= answered, [(r.model, r.status, r.reason) for r in analysis.models]
    for result in analysis.models:
        if result.status == "ok":
            assert abs(sum(result.probabilities.values()) - 1.0) < 1e-4 and len(result.weights_sha256) == 64


@pytest.mark.slow
@pytest.mark.parametrize("card", CARDS, ids=[c.folder for c in CARDS])
def test_trainer_evaluate_reproduces_the_card(card, shared_data: Path) -> None:
    """``python -m trainer evaluate`` on the card's validation split gives the card's numbers exactly."""
    from trainer.__main__ import main

    data: list[str] = []
    for folder in (Path(c).parent.name for c in _csvs(_sidecar(card.folder))):
        csv = shared_data / folder / "labels.csv"
        if not csv.is_file():  # generated, git-ignored data, e.g. python -m trainer make-image-kind-data
            csv = REPO / "data" / folder / "labels.csv"
            if not csv.is_file():
                pytest.skip(f"{folder}/labels.csv is generated data not built here (see the card's trainer command)")
            drift = _generated_drift(card.folder, csv)
            if drift:  # what the card says is then not what the data would say: README names the known case
                pytest.skip(f"{folder}/labels.csv was built otherwise than the card's training data ({drift})")
        data += ["--data", str(csv)]
    code = main(["evaluate", card.name, "--weights", str(SHIPPED / card.folder), *data, "--split", "val", "--threads", "2"])
    assert code == 0, "the validation metrics differ from the model card"


@pytest.mark.parametrize("card", CARDS, ids=[c.folder for c in CARDS])
def test_a_shrink_of_large_films_only_leaves_every_training_film_its_view(card, shared_data: Path) -> None:
    """A card whose max_side applies above max_side_above claims that no film it learnt from is shrunk: every film of
    its training csvs must be at most that size (a pack with a larger film would break the claim, and the card's
    figures would then no longer be those of the view the network learnt)."""
    from PIL import Image

    preprocess = _sidecar(card.folder)["spec"].get("preprocess", {})
    above = int(preprocess.get("max_side_above") or 0)
    if not (preprocess.get("max_side") and above):
        pytest.skip("this set shrinks no film, or every film over max_side")
    for name, film in _training_films(card.folder, shared_data):
        with Image.open(film) as image:
            assert max(image.size) <= above, f"{name} is {image.size}, over {above} px"


@pytest.mark.parametrize("card", CARDS, ids=[c.folder for c in CARDS])
def test_grey_levels_change_no_training_film(card, shared_data: Path) -> None:
    """A card that rounds films to grey levels claims the films it learnt from already had them (8-bit exports: whole
    numbers in the default window (127.5, 255)), so its figures are those of the view the network learnt. A pack of
    12-bit films would break the claim."""
    import numpy as np

    from covidviewer.imaging.preprocess import on_grey_levels
    from trainer.data.images import read_2d

    levels = int(_sidecar(card.folder)["spec"].get("preprocess", {}).get("grey_levels") or 0)
    if not levels:
        pytest.skip("this set reads every film at its own grey levels")
    for name, film in _training_films(card.folder, shared_data):
        pixels, window = read_2d(film)
        assert np.array_equal(on_grey_levels(pixels, window, levels), pixels), f"{name} changes"
