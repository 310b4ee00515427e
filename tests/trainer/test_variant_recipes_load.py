"""Every variant recipe the repository holds (trainer/recipes/cpu_budget, trainer/recipes/gpu) loads over its model's
packaged recipe. A lent GPU's run starts from these files (scripts/gpu-train); a misspelt key found there costs the
session's device time, found here it costs nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import RECIPES_DIR, list_recipes, load_recipe

VARIANTS = sorted(p for folder in ("cpu_budget", "gpu") for p in (RECIPES_DIR / folder).glob("*.toml"))


def model_of(variant: Path) -> str:
    """The packaged recipe a variant file is named after: the longest one its name starts with."""
    names = [name for name in list_recipes() if variant.stem == name or variant.stem.startswith(f"{name}_")]
    assert names, f"{variant.name} names no packaged recipe"
    return max(names, key=len)


def test_variants_are_found() -> None:
    assert len(VARIANTS) >= 10


@pytest.mark.parametrize("variant", VARIANTS, ids=[f"{p.parent.name}/{p.name}" for p in VARIANTS])
def test_each_variant_recipe_loads_over_its_models_recipe(variant: Path) -> None:
    model = model_of(variant)
    recipe = load_recipe(model, variant)
    assert recipe["model"] == model
