"""Penultimate features of any classifier: the pooled input to its final classification layer.

The shortcut audit asks what a linear read-out of the frozen features can tell besides the class
(which hospital, which data set). Features come from a forward *pre*-hook on the classifier layer, so
one ordinary forward pass gives both the logits and the features, through the model's own
``forward`` (lung-mask gates, cascades and all), with nothing re-implemented here.

Which layer: the spec's ``explain.classifier`` (``"head.fc"`` for the DPN / SEME families); for a
composite with ``parts`` (the cascade) every part that has a classifier, concatenated in
part order; otherwise the last ``nn.Linear`` registered (VGG-16-GA's ``fc3``), else the last 1 x 1
convolution. A 4-D or 5-D input to the layer is averaged over its spatial axes.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn


def classifier_layers(model: nn.Module) -> list[str]:
    """Dotted names of the layer(s) whose input are the penultimate features, in concatenation order."""
    spec = getattr(model, "spec", None)
    classifier = spec.explain.classifier if spec is not None else ""
    parts = spec.parts if spec is not None else {}
    if classifier and classifier in dict(model.named_modules()):
        return [classifier]
    if parts:
        names: list[str] = []
        for part in parts:
            child = getattr(model, part, None)
            if isinstance(child, nn.Module) and getattr(getattr(child, "spec", None), "task", "") == "classification":
                names += [f"{part}.{name}" for name in classifier_layers(child)]  # not the lung U-Net
        if names:
            return names
    linear = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if linear:
        return [linear[-1]]
    pointwise = [
        name for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Conv3d)) and all(k == 1 for k in m.kernel_size)
    ]
    if pointwise:
        return [pointwise[-1]]
    raise ValueError(f"{type(model).__name__} has no nn.Linear or 1x1 convolution to read features from")


def _pooled(x: torch.Tensor) -> torch.Tensor:
    """(B, C[, spatial...]) -> (B, C): mean over spatial axes (a 1x1 classifier sees a map)."""
    return x.flatten(2).mean(2) if x.dim() > 2 else x


class FeatureCapture:
    """Collects the inputs of the classifier layer(s) of each forward pass; ``take()`` concatenates them."""

    def __init__(self, layers: list[str]):
        self.layers = layers
        self._seen: dict[str, torch.Tensor] = {}

    def hook(self, name: str) -> Any:
        def pre_hook(_module: nn.Module, inputs: tuple[Any, ...]) -> None:
            self._seen[name] = _pooled(inputs[0].detach())

        return pre_hook

    def take(self) -> torch.Tensor:
        """(B, F) features of the last forward pass (every layer's block side by side), then reset."""
        missing = [n for n in self.layers if n not in self._seen]
        if missing:
            raise RuntimeError(f"the forward pass did not reach the classifier layer(s) {missing}")
        out = torch.cat([self._seen[n].float() for n in self.layers], dim=1)
        self._seen.clear()
        return out


@contextmanager
def capture_features(model: nn.Module, layers: list[str] | None = None) -> Iterator[FeatureCapture]:
    """Hooks the classifier layer(s) of ``model`` for the duration of the ``with`` block; always removed."""
    layers = layers or classifier_layers(model)
    named = dict(model.named_modules())
    capture = FeatureCapture(layers)
    handles = [named[name].register_forward_pre_hook(capture.hook(name)) for name in layers]
    try:
        yield capture
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def logits_and_features(model: nn.Module, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass of ``model(*args, **kwargs)`` -> (its output, (B, F) penultimate features)."""
    with capture_features(model) as capture:
        out = model(*args, **kwargs)
        return out, capture.take()
