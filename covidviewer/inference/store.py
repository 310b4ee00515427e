"""Trained models, loaded lazily and kept per (name, device); untrained ones are listed as unavailable.

Nothing here ever builds a randomly initialised network for prediction: a model runs only after
covidviewer.models.weights verified its installed weights (or when a caller hands in an explicitly
built model with ``add``, e.g. a test's hand-made network or a research tool's own checkpoint).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from covidviewer.models.spec import ModelSpec


class ModelUnavailable(Exception):
    """The model cannot run: no trained weights, invalid weights, or unknown name."""


@dataclass(frozen=True)
class Availability:
    """Whether a registered model can run, and if not why and how to fix it."""

    name: str
    available: bool
    reason: str = ""
    trainer_command: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"model": self.name, "available": self.available, "reason": self.reason, "trainer_command": self.trainer_command}


@dataclass
class LoadedModel:
    """A model ready to run: eval mode, on ``device``, with the spec and weights hash it came with."""

    model: "nn.Module"
    spec: "ModelSpec"
    weights_sha256: str
    device: "torch.device"


def trainer_command(spec: "ModelSpec") -> str:
    """The command that trains a model's weights (composites: one per part)."""
    parts = spec.parts
    names = list(parts.values()) if parts else [spec.name]
    return " && ".join(f"python -m trainer fit {n} --data LABELS.csv --out runs/{n}" for n in names)


class ModelStore:
    """Lazy, thread-safe cache of trained models per (name, device type/index)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._explicit: dict[str, LoadedModel] = {}
        self._status: dict[str, Availability] = {}
        self._installed: tuple[tuple[str, int], ...] | None = None

    # ------------------------------------------------------------------ availability
    def availability(self, name: str) -> Availability:
        """Cheap check (sidecar, sizes, names/shapes; no hashing), cached until ``refresh`` or until
        weights are installed, replaced or removed (then every model is checked and loaded afresh)."""
        with self._lock:
            self._refresh_if_weights_changed()
            if name in self._explicit:
                return Availability(name, True)
            if name not in self._status:
                self._status[name] = self._check(name)
            return self._status[name]

    def _check(self, name: str) -> Availability:
        from covidviewer.models import get_spec
        from covidviewer.models.weights import weights_status

        try:
            spec = get_spec(name)
        except KeyError as exc:
            return Availability(name, False, str(exc.args[0]))
        status = weights_status(name)
        if status == "trained":
            return Availability(name, True)
        command = trainer_command(spec)
        if status == "missing" and spec.modality == "CT_VOLUME":
            # no labelled CT volumes exist to train it on for this release: say what the user can do
            return Availability(name, False, "needs training on your CT volumes (no trained weights ship for it)", command)
        if status == "missing":
            return Availability(name, False, "no trained weights installed", command)
        if status.startswith("withdrawn"):
            return Availability(name, False, status, command)
        return Availability(name, False, f"weights {status}", command)

    def _refresh_if_weights_changed(self) -> None:
        from covidviewer.models.weights import weights_root

        # one stat per installed sidecar: cheap enough to do on every check
        installed = tuple(sorted((p.parent.name, p.stat().st_mtime_ns) for p in weights_root().glob("*/model.json")))
        if installed != self._installed:
            if self._installed is not None:
                self.refresh()
            self._installed = installed

    def refresh(self) -> None:
        """Forget cached availability and loaded models (after installing or training weights)."""
        with self._lock:
            self._status.clear()
            self._loaded.clear()

    # ------------------------------------------------------------------ loading
    def add(self, model: "nn.Module", spec: "ModelSpec", weights_sha256: str) -> None:
        """Register an explicitly built, already-trained model under ``spec.name`` (all devices)."""
        import torch

        model.eval()
        model.spec = spec
        with self._lock:
            self._explicit[spec.name] = LoadedModel(model, spec, weights_sha256, torch.device("cpu"))
            self._loaded = {k: v for k, v in self._loaded.items() if k[0] != spec.name}

    def spec(self, name: str) -> "ModelSpec":
        from covidviewer.models import get_spec

        with self._lock:
            if name in self._explicit:
                return self._explicit[name].spec
        return get_spec(name)

    def get(self, name: str, device: "torch.device") -> LoadedModel:
        """The trained model on ``device`` (loaded on first use); ModelUnavailable if it cannot run."""
        key = (name, str(device))
        with self._lock:
            self._refresh_if_weights_changed()
            if key in self._loaded:
                return self._loaded[key]
            explicit = self._explicit.get(name)
            if explicit is not None:
                loaded = LoadedModel(explicit.model.to(device), explicit.spec, explicit.weights_sha256, device)
                self._explicit[name] = loaded
                self._loaded = {k: v for k, v in self._loaded.items() if k[0] != name}
            else:
                availability = self.availability(name)
                if not availability.available:
                    raise ModelUnavailable(f"{name}: {availability.reason}")
                loaded = self._load_installed(name, device)
            self._loaded[key] = loaded
            return loaded

    def _load_installed(self, name: str, device: "torch.device") -> LoadedModel:
        from covidviewer.models import get_spec
        from covidviewer.models.memory_format import for_device
        from covidviewer.models.weights import WeightsError, installed_weights_sha256, load_trained_model

        try:
            model = for_device(load_trained_model(name, device=device), device)
        except WeightsError as exc:
            self._status[name] = Availability(name, False, f"weights invalid: {exc}", trainer_command(get_spec(name)))
            raise ModelUnavailable(f"{name}: {exc}") from exc
        # The installed weights' own spec (trained input size) wins over the registered one.
        return LoadedModel(model, getattr(model, "spec", None) or get_spec(name), installed_weights_sha256(name) or "", device)

    def evict(self, device: "torch.device | None" = None) -> None:
        """Drop loaded copies (all, or those on one device) to free memory."""
        with self._lock:
            self._loaded = {k: v for k, v in self._loaded.items() if device is not None and k[1] != str(device)}
