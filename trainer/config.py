"""Recipes: one TOML file per model with the paper's training values, plus overrides and deviations.

A recipe is a nested dict read from ``trainer/recipes/<model>.toml``. A user ``--config`` file is
deep-merged over it and ``--set key=value`` overrides are applied last. Every value that ends up
different from the packaged (paper) recipe is recorded as a deviation, so a model card always says
how the run differed from the paper (fewer epochs on a CPU, smaller input, ...).
"""
from __future__ import annotations

import copy
import difflib
import json
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"

# Values every recipe gets unless it says otherwise; recipes only list what the paper specifies.
DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "task": "classification",
    "paper": {"citation": "", "reported": {}, "notes": ""},
    "known_deviations": [],
    "known_biases": [],
    "data": {
        "label_map": {},
        "exclude_labels": [],
        # rows whose label a look at the film contradicts (trainer/data/label_review.py): "bundled" or a csv; "" = none
        "label_review": "bundled",
        # the app's input gate asked of every row before training (trainer/data/kind_check.py): "warn" lists the films
        # it would refuse for this model, "skip" leaves them out as bad rows, "off" asks nothing
        "kind_check": "warn",
        "val_fraction": 0.15,
        # the patient split's own seed (None: the recipe's seed): replicates of one recipe that differ only in their
        # start share a split, so their validation films can choose one threshold for them all
        "split_seed": None,
        "folds": 0,
        "fold": 0,
        # False, True / "label" (every class equally often) or "source_label" (every class equally
        # often, and within a class each source in proportion to the square root of its size)
        "balanced_sampling": False,
        "stratify_by_source": False,
        "hold_out_sources": [],
        "child_sources": [],
        # csvs of each film's view (PA / AP), ahead of the labels csv's own `view` column (trainer.data.views); the
        # audit reports every figure per view
        "view_tables": [],
        "lung_masks": "none",
        "lung_mask_weights": "",
        "cache_images": True,
        "num_workers": 0,
    },
    # lung_mask: "" = the spec's own; "image" multiplies the image by the lung U-Net's mask (as the cascade's stage 2)
    "input": {"size": [], "size_kwargs": {}, "preprocess": {}, "lung_mask": ""},
    "model_kwargs": {},
    "train": {
        "epochs": 10,
        "batch_size": 8,
        "optimizer": "adam",
        "lr": 1e-3,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
        "scheduler": "none",
        "eta_min": 0.0,
        "eta_max": 0.0,
        "cosine_period": 0,
        "step_size": 30,
        "gamma": 0.1,
        "grad_clip": 0.0,
        "patience": 0,
        "select": "val_loss",
        "amp": "auto",
        "channels_last": True,
        "eval_batch_size": 0,
        "checkpoint_every_steps": 0,
        "max_steps_per_epoch": 0,
        # stop after the epoch that reaches this many minutes of training (0 = no limit): a lent GPU's budget
        "time_limit_minutes": 0.0,
        # a weights folder or run folder of the same model to start from (fine-tuning); "" = random init
        "init_from": "",
        # module-name prefixes that train (trainer.partial_training); [] = the whole network
        "train_only": [],
        # every batch norm keeps its running statistics while training (trainer.partial_training)
        "keep_norm_stats": False,
    },
    "augment": {
        "hflip": 0.0,
        "rotate": 0.0,
        "scale": [1.0, 1.0],
        "translate": 0.0,
        "crop_scale": [1.0, 1.0],
        "brightness": 0.0,
        "contrast": 0.0,
        "clahe_prob": -1.0,
        "masked_copies": False,
        "erased_copies": False,
        "style": 0.0,
        "film_size": 0.0,
        "film_size_range": [1.0, 8.0],
        "export_window": 0.0,
        "export_window_range": 0.15,
    },
    "method": {
        "moex": False,
        "moex_prob": 1.0,
        "moex_lambda": 0.9,
        "mixup_alpha": 0.0,
        "attention_alpha": 0.0,
        "dice_weight": 1.0,
        "bce_weight": 1.0,
        "ignore_value": 127,
        "label_smoothing": 0.0,
        "source_adversary": 0.0,  # trainer/source_adversary.py: weight of the source confusion term, 0 = off
        "source_adversary_min_rows": 10,
    },
    "stages": [],
}


class RecipeError(ValueError):
    """A recipe file or an override is invalid; the message names the key."""


#: tables whose keys are the user's own (class names, paper figures, constructor arguments); the
#: preprocess table is checked against ``Preprocess``'s fields where it is used
FREE_TABLES = ("label_map", "reported", "model_kwargs", "size_kwargs", "preprocess")


def _known_leaves() -> list[str]:
    return _leaf_paths(DEFAULTS) + ["model"]


def check_keys(values: dict[str, Any], where: str) -> None:
    """Raise ``RecipeError`` naming the first key of ``values`` that no recipe has (``[train] epoch = 3``
    would otherwise be accepted silently and the run would train the default number of epochs)."""

    def walk(node: dict[str, Any], schema: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if key not in schema:
                close = difflib.get_close_matches(path, _known_leaves() + list(DEFAULTS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise RecipeError(f"{where}: unknown recipe key {path!r}{hint}")
            if key == "stages" and isinstance(value, list):
                for i, stage in enumerate(value):
                    if isinstance(stage, dict):
                        walk({k: v for k, v in stage.items() if k != "name"}, DEFAULTS, f"stages.{i}.")
            elif isinstance(value, dict) and isinstance(schema[key], dict) and key not in FREE_TABLES:
                walk(value, schema[key], path + ".")

    walk(values, {**DEFAULTS, "model": "", "base": ""}, "")


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``base`` with ``update`` merged in, tables recursively, everything else replaced."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_value(text: str) -> Any:
    """``--set`` value: a TOML literal (``3``, ``1e-4``, ``true``, ``[64, 64]``, ``"adam"``) or a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _leaf_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("label_map", "reported", "model_kwargs", "size_kwargs"):
            paths.extend(_leaf_paths(value, path + "."))
        else:
            paths.append(path)
    return paths


def resolve_key(recipe: dict[str, Any], key: str) -> list[str]:
    """Dotted override key -> path parts; a bare key (``size``) must name exactly one leaf."""
    if "." in key:
        return key.split(".")
    matches = [p for p in _leaf_paths(recipe) if p.split(".")[-1] == key]
    if len(matches) == 1:
        return matches[0].split(".")
    if not matches:
        raise RecipeError(f"unknown recipe key {key!r}; use a dotted key such as train.epochs")
    raise RecipeError(f"recipe key {key!r} is ambiguous ({', '.join(matches)}); use the dotted form")


def set_path(recipe: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set ``recipe[a][b][c] = value``; list items are addressed by integer (``stages.0.epochs``)."""
    node: Any = recipe
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise RecipeError(f"{'.'.join(parts[: i + 1])} is a value, not a table")
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def get_path(recipe: dict[str, Any], parts: list[str]) -> Any:
    node: Any = recipe
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out  # an empty table contributes nothing (so {} and "unset" compare equal)
    if isinstance(tree, list) and tree and all(isinstance(v, dict) for v in tree):
        out = {}
        for i, value in enumerate(tree):
            out.update(_flatten(value, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: tree}


def find_deviations(paper: dict[str, Any], used: dict[str, Any]) -> list[str]:
    """Human-readable list of every value in ``used`` that differs from the paper recipe."""
    flat_paper, flat_used = _flatten(paper), _flatten(used)
    skip = ("paper.", "known_deviations", "known_biases")
    out = []
    for key in sorted(set(flat_paper) | set(flat_used)):
        if key.startswith(skip):
            continue
        before, after = flat_paper.get(key, "(unset)"), flat_used.get(key, "(unset)")
        if before != after:
            out.append(f"{key}: recipe {before!r} -> used {after!r}")
    return out


def packaged_recipe_path(model: str) -> Path:
    return RECIPES_DIR / f"{model}.toml"


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def read_toml(path: Path) -> dict[str, Any]:
    """A recipe or ``--config`` file; an unknown key is an error that names it."""
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"{path}: invalid TOML: {err}") from None
    check_keys(values, str(path))
    return values


def _read_with_base(path: Path) -> dict[str, Any]:
    """A recipe file; ``base = "other"`` deep-merges it over ``other.toml`` (ablations share a recipe)."""
    values = read_toml(path)
    base = values.pop("base", None)
    if base is None:
        return values
    base_path = RECIPES_DIR / f"{base}.toml"
    if base_path == path:
        raise RecipeError(f"{path} names itself as its base")
    return deep_merge(_read_with_base(base_path), values)


@dataclass
class Recipe:
    """A resolved recipe: ``values`` (nested dict) plus the deviations from the paper recipe."""

    model: str
    values: dict[str, Any]
    paper_values: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, section: str) -> Any:
        return self.values[section]

    @property
    def deviations(self) -> list[str]:
        """Overrides vs the paper recipe, the recipe's own stated deviations, and run-time notes."""
        return list(self.values.get("known_deviations", [])) + find_deviations(self.paper_values, self.values) + self.notes

    def note(self, text: str) -> None:
        """Record a deviation decided at run time (e.g. where the lung masks came from)."""
        if text not in self.notes:
            self.notes.append(text)

    def stage_values(self, stage: int) -> dict[str, Any]:
        """Recipe with stage ``stage``'s overrides merged in (stage 0 = the base recipe)."""
        if stage == 0:
            return self.values
        overrides = dict(self.values["stages"][stage - 1])
        overrides.pop("name", None)
        return deep_merge(self.values, overrides)

    def stage_epochs(self) -> list[int]:
        """Epochs per stage: ``train.epochs`` then each ``[[stages]]`` table's ``train.epochs``."""
        out = [int(self.values["train"]["epochs"])]
        for st in self.values["stages"]:
            out.append(int(st.get("train", {}).get("epochs", 0)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "values": self.values, "deviations": self.deviations}


def apply_overrides(values: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> None:
    """Set each ``key=value`` (``--set``) in ``values``, in place; a key must be one the recipe schema knows."""
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"override {item!r} is not KEY=VALUE")
        key, text = item.split("=", 1)
        set_path(values, resolve_key(values, key.strip()), parse_value(text.strip()))
        check_keys(values, f"--set {item}")


def changed_values(values: dict[str, Any], config: Path | None, overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A copy of recipe ``values`` with ``config`` (a TOML file) deep-merged over them, then ``key=value`` overrides."""
    changed = copy.deepcopy(deep_merge(values, read_toml(Path(config))) if config is not None else values)
    apply_overrides(changed, overrides)
    return changed


def load_recipe(
    model: str, config: Path | None = None, overrides: list[str] | tuple[str, ...] = (), epochs: int | None = None
) -> Recipe:
    """Packaged recipe of ``model`` (+ ``config`` deep-merged) with ``key=value`` overrides applied."""
    path = packaged_recipe_path(model)
    if not path.is_file():
        raise RecipeError(f"no recipe for {model!r} (have: {', '.join(list_recipes())})")
    paper = deep_merge(DEFAULTS, _read_with_base(path))
    if paper.get("model", model) != model:
        raise RecipeError(f"{path} is the recipe of {paper['model']!r}, not {model!r}")
    values = changed_values(paper, config, overrides)
    if epochs is not None:
        values["train"]["epochs"] = int(epochs)
    values["model"] = model
    return Recipe(model=model, values=values, paper_values=paper)


def recipe_from_dict(d: dict[str, Any]) -> Recipe:
    """Rebuild a Recipe saved in a run's summary (deviations are recomputed from the packaged file)."""
    model = d["model"]
    path = packaged_recipe_path(model)
    paper = deep_merge(DEFAULTS, _read_with_base(path)) if path.is_file() else copy.deepcopy(d["values"])
    recipe = Recipe(model=model, values=copy.deepcopy(d["values"]), paper_values=paper)
    base = set(recipe.deviations)
    recipe.notes = [x for x in d.get("deviations", []) if x not in base]
    return recipe


def _bases(model: str) -> list[str]:
    """The chain of ``base = "..."`` recipes under ``model``'s packaged recipe."""
    chain: list[str] = []
    path = packaged_recipe_path(model)
    while path.is_file():
        base = read_toml(path).get("base")
        if base is None or base in chain or base == model:
            return chain
        chain.append(base)
        path = packaged_recipe_path(base)
    return chain


def reproduce_command(recipe: Recipe, data_csv: str | list[str]) -> str:
    """The ``fit`` command that rebuilds ``recipe``: the packaged variant file (e.g.
    recipes/cpu_budget/MODEL.toml, or a named variant such as recipes/cpu_budget/MODEL_anneal.toml) that
    needs the fewest ``--set`` overrides on top, or the packaged recipe alone. Every candidate is checked
    by loading it back, so the command a card names rebuilds exactly the values the run used (a fine-tune
    with one changed switch says which)."""
    data = " ".join(f"--data {d}" for d in ([data_csv] if isinstance(data_csv, str) else data_csv))
    base = f"python -m trainer fit {recipe.model} {data} --out runs/{recipe.model}"
    family = [recipe.model] + _bases(recipe.model)  # an ablation trains with its paper model's variant file
    # MODEL.toml and its named variants (MODEL_anneal.toml): each is checked by loading it back below
    candidates: list[Path | None] = [c for name in family for pattern in (f"*/{name}.toml", f"*/{name}_*.toml")
                                     for c in sorted(RECIPES_DIR.glob(pattern))]
    found: list[tuple[int, str]] = []
    for config in candidates + [None]:
        overrides = _overrides_to(recipe, config)
        if overrides is None:
            continue
        command = base if config is None else f"{base} --config {config.relative_to(RECIPES_DIR.parents[1]).as_posix()}"
        found.append((len(overrides), " ".join([command] + [f"--set {shlex.quote(o)}" for o in overrides])))
    if not found:
        return f"{base} (not reproducible by --config/--set: see recipe_resolved)"
    return min(found, key=lambda item: item[0])[1]


def _overrides_to(recipe: Recipe, config: Path | None) -> list[str] | None:
    """``key=value`` overrides that turn ``config`` (None: the packaged recipe) into ``recipe``'s
    values, or None when ``--set`` cannot express the difference (a key the run does not have)."""
    try:
        start = load_recipe(recipe.model, config).values
    except RecipeError:
        return None
    have, want = _flatten(start), _flatten(recipe.values)
    if set(have) - set(want):
        return None
    overrides = [f"{key}={_toml_literal(value)}" for key, value in want.items()
                 if key not in have or have[key] != value]
    try:
        rebuilt = load_recipe(recipe.model, config, overrides).values
    except RecipeError:
        return None
    return overrides if rebuilt == recipe.values else None


def _toml_literal(value: Any) -> str:
    """``value`` as the TOML literal ``--set`` parses back (``parse_value``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_literal(v)}" for k, v in value.items()) + "}"
    raise RecipeError(f"cannot write {value!r} as a --set value")
