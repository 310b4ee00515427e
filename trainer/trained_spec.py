"""The ModelSpec as a recipe trains it: input size and ``[input.preprocess]`` settings, builder
kwargs, and whether images need lung masks. Used by fit, evaluate, export and by loading a trained
run (``trainer.trained``), so none of them imports the data pipeline for it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.registry import takes_lung_mask
from trainer.config import Recipe


def effective_preprocess(spec: Any, recipe: Recipe) -> Preprocess:
    """The spec's Preprocess with the recipe's input size (``input.size``: [] = the spec's own) and
    ``[input.preprocess]`` settings (e.g. ``lung_crop = true``, ``intensity = "percentile"``)."""
    pp: Preprocess = spec.preprocess
    overrides = dict(recipe["input"].get("preprocess", {}))
    if overrides:
        merged = pp.to_dict()
        unknown = sorted(set(overrides) - set(merged))
        if unknown:
            raise ValueError(f"unknown input.preprocess setting(s) {unknown}; known: {sorted(merged)}")
        merged.update(overrides)
        pp = Preprocess.from_dict(merged)
    size = recipe["input"].get("size") or []
    if isinstance(size, int):
        size = [size] * len(pp.size)
    if size:
        if len(size) != len(pp.size):
            raise ValueError(f"input.size {list(size)} must have {len(pp.size)} values for {spec.name}")
        pp = replace(pp, size=tuple(int(s) for s in size))
    return pp


#: what ``input.lung_mask`` may make of a spec's own use: a model built to take the mask as a forward argument
#: (VGG-16-GA) keeps it; any other model may see the lung-masked image instead of the whole one, and one whose
#: forward takes the mask as an option (DPN-SENet: pooled over the lung cells) may be given it
RECIPE_LUNG_MASK_USES = ("none", "image", "forward_arg")


def effective_spec(spec: Any, recipe: Recipe) -> Any:
    """The ModelSpec as trained (input size may differ from the registered one; so may ``input.lung_mask``:
    both are recorded in the card, which the app reads them from)."""
    trained = replace(spec, preprocess=effective_preprocess(spec, recipe))
    use = recipe["input"].get("lung_mask") or ""
    if not use or use == spec.lung_mask:
        return trained
    if use not in RECIPE_LUNG_MASK_USES or spec.lung_mask == "forward_arg":
        raise ValueError(f"input.lung_mask {use!r} for {spec.name} (its own: {spec.lung_mask!r}): a recipe may choose "
                         f"{' or '.join(map(repr, RECIPE_LUNG_MASK_USES))} for a model that does not take the mask as an input")
    if use == "forward_arg" and not takes_lung_mask(spec.name):
        raise ValueError(f"input.lung_mask 'forward_arg': {spec.name}'s forward takes no lung mask ('image' masks its input)")
    return replace(trained, lung_mask=use)


def model_kwargs(spec: Any, recipe: Recipe) -> dict[str, Any]:
    """Builder kwargs: ``[model_kwargs]`` plus kwargs that must follow the input size
    (``input.size_kwargs = {input_depth = 0}`` passes size[0], e.g. DARNet's depth-attention size)."""
    kwargs = dict(recipe["model_kwargs"])
    size = effective_preprocess(spec, recipe).size
    for name, axis in recipe["input"].get("size_kwargs", {}).items():
        kwargs[name] = int(size[int(axis)])
    for key, value in list(kwargs.items()):
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    return kwargs


def needs_lung_masks(spec: Any, recipe: Recipe, training: bool = True) -> bool:
    """Whether images need a lung mask: masked input, mask input or lung crop (always), masked or chest-erased copies
    (training)."""
    if effective_spec(spec, recipe).needs_lung_mask:
        return True
    epochs = recipe.stage_epochs()
    augments = [recipe.stage_values(s)["augment"] for s in range(len(epochs)) if epochs[s] > 0]
    return training and any(a.get("masked_copies") or a.get("erased_copies") for a in augments)
