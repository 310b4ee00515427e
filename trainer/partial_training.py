"""``train.train_only``: fine-tune the last blocks of a trained network and leave the rest as it is.

With no GPU lent, a whole SE-DenseNet169 at 224 px cannot be retrained on 2 CPU cores, but its last dense
block can: the frozen blocks need no backward pass, and that is most of the cost. A recipe names the modules
that train by their dotted-name prefixes (``["features.denseblock4", "features.se4", "features.norm5",
"head"]``); every other parameter keeps its trained value, and every module outside them stays in eval mode
while training, so its batch norms keep the statistics they were trained with (in train mode they would
drift toward the fine-tuning batches, which the frozen weights after them never saw).

``train.keep_norm_stats`` holds the trained blocks' batch norms in eval mode too (their scale and shift still
train): session 40 found that the running statistics of the last dense block alone, re-estimated on ten batches of
the CPU fine-tune at a learning rate of 0, took stage 2's validation accuracy from 0.877 to 0.768 (AUC 0.905 ->
0.913), and six epochs left the cascade calling 9% of adult normals COVID-19 instead of 5%. Why the CPU batches'
statistics differ so much from those the GPU run ended with was not found; keeping them is what a fine-tune of a
few epochs on another machine needs.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch


def trained_prefixes(train: Mapping[str, Any]) -> list[str]:
    """A recipe's ``[train] train_only`` as a list (one name alone is one prefix, not its letters)."""
    value = train.get("train_only") or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def restrict_training(model: torch.nn.Module, prefixes: Sequence[str]) -> int:
    """Freeze every parameter of ``model`` outside the modules named by ``prefixes``; the number left to train.

    An empty list trains everything. A prefix that names no module is an error (a typo would otherwise
    freeze the whole network, or silently train what was meant to stay)."""
    if not prefixes:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    names = {name for name, _ in model.named_modules()}
    unknown = [p for p in prefixes if p not in names]
    if unknown:
        raise ValueError(f"train.train_only names no module of {type(model).__name__}: {', '.join(unknown)} "
                         f"(top-level modules: {', '.join(n for n, _ in model.named_children())})")
    trained = 0
    for name, param in model.named_parameters():
        keep = _under(name, prefixes)
        param.requires_grad_(keep)
        trained += param.numel() if keep else 0
    return trained


def keeps_norm_stats(train: Mapping[str, Any]) -> bool:
    """A recipe's ``[train] keep_norm_stats``: every batch norm keeps the running statistics it was trained with."""
    return bool(train.get("keep_norm_stats", False))


def hold_norm_stats(model: torch.nn.Module) -> None:
    """After ``model.train()``: every batch-norm layer back in eval mode (normalising by, and keeping, its running
    statistics); its scale and shift train where their parameters do."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def hold_frozen_in_eval(model: torch.nn.Module, prefixes: Sequence[str]) -> None:
    """After ``model.train()``: every module outside ``prefixes`` (and holding none of them) back in eval mode."""
    if not prefixes:
        return
    for name, module in model.named_modules():
        if not name or _under(name, prefixes):
            continue
        if any(_under(p, [name]) for p in prefixes):  # an ancestor of a trained module: its children decide
            continue
        module.eval()
