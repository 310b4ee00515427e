"""Model registry in the style of timm: ``@register_model(spec)`` + ``create_model(name)``.

A builder is a function ``(**kwargs) -> nn.Module``; the created module gets ``.spec`` attached so
callers never pass a model and its spec separately.
"""
from __future__ import annotations

from typing import Any, Callable

from covidviewer.models.spec import ModelSpec

_BUILDERS: dict[str, Callable[..., Any]] = {}
_SPECS: dict[str, ModelSpec] = {}
_TAKES_LUNG_MASK: set[str] = set()


def register_model(spec: ModelSpec, takes_lung_mask: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``builder`` under ``spec.name``. takes_lung_mask: the model's ``forward`` also
    takes an optional ``lung_mask`` (its spec may say "forward_arg" although the registered one does not)."""

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        if spec.name in _BUILDERS:
            raise ValueError(f"model {spec.name!r} registered twice")
        _BUILDERS[spec.name] = builder
        _SPECS[spec.name] = spec
        if takes_lung_mask or spec.lung_mask == "forward_arg":
            _TAKES_LUNG_MASK.add(spec.name)
        return builder

    return wrap


def _ensure_loaded() -> None:
    # Importing the package imports every family module in a fixed order, which registers them.
    import covidviewer.models  # noqa: F401


def list_models() -> list[str]:
    """Registered names in registration order."""
    _ensure_loaded()
    return list(_BUILDERS)


def get_spec(name: str) -> ModelSpec:
    _ensure_loaded()
    try:
        return _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_BUILDERS)}") from None


def takes_lung_mask(name: str) -> bool:
    """Whether the model's ``forward`` takes a ``lung_mask`` argument."""
    get_spec(name)
    return name in _TAKES_LUNG_MASK


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model (untrained: load weights with covidviewer.models.weights)."""
    spec = get_spec(name)
    model = _BUILDERS[name](**kwargs)
    model.spec = spec
    return model
