"""Which explanation method each model runs: the method ids and their labels, and "default", the
method that gives each model the map its paper shows (CAM for DARNet, Grad-CAM otherwise).

The viewer's Analyse and ``covidviewer predict --explain default`` both resolve a requested method
through :func:`method_groups`, so they run the same method for the same model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from covidviewer.explain import METHODS

if TYPE_CHECKING:
    from covidviewer.models.spec import ModelSpec

#: the method choice that gives each model the map its paper shows (CAM for DARNet, else Grad-CAM)
PAPER_MAP = "default"
#: method id -> label shown in the UI: explain's own names plus the two choices that are not methods
METHOD_LABELS: dict[str, str] = {
    PAPER_MAP: "Paper's map (CAM for DARNet, Grad-CAM otherwise)",
    **METHODS,
    "none": "No map (probabilities only)",
}
SHORT_METHOD_LABELS = {"cam": "CAM", PAPER_MAP: "Paper's map", "none": "No map"}


def method_label(method: str, short: bool = True) -> str:
    """Human name of a method id ("gradcampp" -> "Grad-CAM++")."""
    if short and method in SHORT_METHOD_LABELS:
        return SHORT_METHOD_LABELS[method]
    return METHOD_LABELS.get(method, method)


def effective_method(method: str, spec: "ModelSpec") -> str:
    """The method a model really runs: its paper's map (``spec.explain.default_method``) for PAPER_MAP,
    else ``method`` itself."""
    return spec.explain.default_method if method == PAPER_MAP else method


def method_groups(
    spec_of: Callable[[str], "ModelSpec"], models: Iterable[str], methods: Iterable[str]
) -> dict[str, list[str]]:
    """Effective method -> the models that run it, for every requested (method, model) pair once,
    in request order. A model ``spec_of`` does not know (KeyError) keeps the method as asked: the
    Predictor then reports the unknown name as that model's error."""
    models = list(models)
    groups: dict[str, list[str]] = {}
    for method in methods:
        for name in models:
            try:
                real = effective_method(method, spec_of(name))
            except KeyError:
                real = method
            if name not in groups.setdefault(real, []):
                groups[real].append(name)
    return groups
