"""One Predictor per device choice for the viewer's workers, all sharing one model store and one
result cache, so re-analysing an image with the same weights and method is instant."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from covidviewer.inference import ModelStore, Predictor, ResultCache

PredictorFactory = Callable[[str, "ModelStore", "ResultCache"], "Predictor"]


def default_predictor_factory(device: str, store: "ModelStore", cache: "ResultCache") -> "Predictor":
    """A covidviewer.inference Predictor on ``device`` sharing ``store`` and ``cache``."""
    from covidviewer.inference import Predictor

    return Predictor(device=device, store=store, cache=cache)


class PredictorPool:
    """Predictors by device ("auto", "cpu"), created on first use; thread-safe.

    factory(device, store, cache) -> Predictor lets tests and tools supply their own.
    ``first_imports``: held by a worker while it may import the heavy packages (torch, grad-cam,
    lime) for the first time; two threads doing that at once can deadlock on Python's import locks,
    so the model listing and an Analyse started meanwhile take turns.
    """

    def __init__(self, factory: PredictorFactory | None = None) -> None:
        self.factory: PredictorFactory = factory or default_predictor_factory
        self.first_imports = threading.Lock()
        self._predictors: dict[str, "Predictor"] = {}
        self._store: "ModelStore | None" = None
        self._cache: "ResultCache | None" = None
        self._lock = threading.Lock()

    def get(self, device: str) -> "Predictor":
        """The Predictor for ``device`` (created on first use; imports torch: call from a worker)."""
        with self._lock:
            if device not in self._predictors:
                if self._store is None or self._cache is None:
                    from covidviewer.inference import ModelStore, ResultCache

                    self._store, self._cache = ModelStore(), ResultCache()
                self._predictors[device] = self.factory(device, self._store, self._cache)
            return self._predictors[device]

    @property
    def started(self) -> bool:
        """Whether any Predictor exists yet (the first one takes seconds: torch is imported)."""
        return bool(self._predictors)

    def clear(self) -> None:
        """Forget the Predictors (the store and cache stay): the next ``get`` asks the factory again."""
        with self._lock:
            self._predictors.clear()
