"""The commands that rebuild a fine-tuned weight set: the set it started from, then the fine-tune.

A fit with ``train.init_from`` an exported weights folder (e.g. the CPU tail recipes, which start from the shipped
GPU-trained set) would otherwise have its card name that fit alone, and the fit names a folder that the next export
replaces: nobody could rebuild the set from a clean checkout. The card of the folder it started from says how that
set was made, so the fine-tune's card names that command, then this fit starting from the run folder it writes last
(as ``trainer respec`` and ``refit-head`` chain theirs).
"""
from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path
from typing import Sequence

from trainer.config import Recipe, reproduce_command


def fine_tune_command(recipe: Recipe, data: Sequence[str]) -> str | None:
    """``<the starting set's own command> && python -m trainer fit ... --set train.init_from=<its run folder>``, or
    None when the fit does not start from an exported set whose card names its command (a plain fit: export names it)."""
    start = str(recipe["train"].get("init_from") or "")
    if not start or not (Path(start) / "model.json").is_file():
        return None
    try:  # the fit itself loaded (and checked) the weights; only the card's command is read here
        network = json.loads((Path(start) / "model.json").read_text(encoding="utf-8")).get("training", {}).get("trainer")
    except (OSError, ValueError, AttributeError):
        return None
    if not network:
        return None
    source, target = chained_run_folders(network, recipe.model, "tuned")
    rebuilt = Recipe(recipe.model, copy.deepcopy(recipe.values), recipe.paper_values, list(recipe.notes))
    rebuilt.values["train"]["init_from"] = source
    command = reproduce_command(rebuilt, list(data)).replace(f"--out runs/{recipe.model}", f"--out {target}", 1)
    return f"{network} && {command}"


def chained_run_folders(network: str, name: str, step: str) -> tuple[str, str]:
    """(the run folder ``network``'s rebuild command wrote last, a folder none of it uses for the ``step`` that follows
    it, e.g. ``runs/NAME_respec``): the step starts from the first and writes the second, so a second step keeps the
    first one's result."""
    try:
        words = shlex.split(network)
    except ValueError:
        words = []
    outs = [after for word, after in zip(words, words[1:]) if word == "--out"]
    source = outs[-1] if outs else f"runs/{name}"
    target, n = f"runs/{name}_{step}", 2
    while target in outs:
        target, n = f"runs/{name}_{step}{n}", n + 1
    return source, target
