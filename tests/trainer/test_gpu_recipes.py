"""A lent GPU's run is shipped as it comes back (scripts/gpu-train, then export): each radiograph model's GPU recipe
must prepare films as its shipped card says the app prepares them (lung crop, window, CLAHE, 8-bit grey levels, the
shrink of large films, the lung mask's use), or a retrained set would read films another way than the one it
replaces was audited on. Session 27 found DPN-SENet's and the cascade's GPU recipes without session 25's grey levels
and shrink."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from covidviewer.models import get_spec
from covidviewer.models.spec import ModelSpec
from trainer.config import load_recipe
from trainer.trained_spec import effective_spec

ROOT = Path(__file__).resolve().parents[2]
# how the film is read; the size, the mean and std and the channels come from the model itself
READ_AS = ("kind", "window", "clahe", "clahe_clip", "clahe_tiles", "fit", "lung_crop", "lung_crop_margin", "intensity",
           "percentiles", "max_side", "max_side_above", "max_side_of", "grey_levels")


@pytest.mark.parametrize(("model", "weights"), [
    ("dpn92_se", "dpn92_se"), ("seme_resnet50", "seme_resnet50_v2"), ("seme_densenet169", "seme_densenet169"),
    ("vgg16_ga", "vgg16_ga"),
])
def test_each_gpu_recipe_reads_films_as_its_shipped_card(model: str, weights: str) -> None:
    card = ROOT / "resources" / "weights" / weights / "model.json"
    if not card.is_file():
        pytest.skip(f"no shipped {weights}")
    shipped = ModelSpec.from_dict(json.loads(card.read_text())["spec"])  # as the app reads it: defaults filled in
    recipe = load_recipe(model, ROOT / "trainer" / "recipes" / "gpu" / f"{model}.toml", [])
    trained = effective_spec(get_spec(model), recipe)
    ours, theirs = trained.preprocess.to_dict(), shipped.preprocess.to_dict()
    assert {k: ours[k] for k in READ_AS} == {k: theirs[k] for k in READ_AS}
    assert trained.lung_mask == shipped.lung_mask
