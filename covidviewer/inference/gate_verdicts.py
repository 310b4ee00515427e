"""The gate's small networks asked once per image, on the CPU: the image-kind model (what the image is) and the
mirror check (is a frontal film stored mirrored?). Both read the same 128 px input, made once per plane
(``gate_input``: the shrink of a 2,000 px film costs more than either forward). Qt-free; the Predictor owns one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

import numpy as np

from covidviewer.inference.film_mirror import MIRROR_MODEL, FilmSide, classify_film_side
from covidviewer.inference.gate import FRONTAL, IMAGE_KIND_MODEL, ImageKind
from covidviewer.inference.image_kind import classify_image_kind, gate_input, kind_plane_index
from covidviewer.inference.store import LoadedModel, ModelStore, ModelUnavailable

if TYPE_CHECKING:
    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

#: verdicts (and inputs) kept per kind: a reader's recent images
KEPT = 32
T = TypeVar("T")


class GateVerdicts:
    """Cached verdicts of the image-kind model and the mirror check; None without their trained weights."""

    def __init__(self, store: ModelStore):
        self.store = store
        self._kinds: dict[Hashable, ImageKind | None] = {}
        self._sides: dict[Hashable, FilmSide | None] = {}
        self._inputs: dict[Hashable, np.ndarray] = {}

    def image_kind(self, volume: "Volume", spec: "ModelSpec | None", slice_index: int | None, digest: str) -> ImageKind | None:
        """The image-kind verdict on the plane ``spec``'s model would analyse (the middle one without a spec); None
        for colour images."""
        if volume.is_rgb:
            return None
        index = kind_plane_index(volume, spec, slice_index) if spec is not None else volume.shape[0] // 2
        return self._ask(self._kinds, (digest, index), IMAGE_KIND_MODEL,
                         lambda loaded: classify_image_kind(loaded.model, loaded.spec, volume, index,
                                                            self._input(volume, loaded.spec, index, digest)))

    def kind_seen(self, digest: str, index: int) -> ImageKind | None:
        return self._kinds.get((digest, index))

    def film_side(self, volume: "Volume", digest: str) -> FilmSide | None:
        """The mirror check's verdict on a frontal chest film (as the image-kind model sees it); None otherwise."""
        if not volume.is_2d or volume.is_rgb or not self.store.availability(MIRROR_MODEL).available:
            return None
        kind = self.image_kind(volume, None, None, digest)
        if kind is None or kind.verdict != FRONTAL:
            return None
        return self._ask(self._sides, digest, MIRROR_MODEL,
                         lambda loaded: classify_film_side(loaded.model, loaded.spec, volume, self._input(volume, loaded.spec, 0, digest)))

    def _ask(self, cache: dict[Hashable, T | None], key: Hashable, model: str, ask: Callable[[LoadedModel], T]) -> T | None:
        if key in cache:
            return cache[key]
        if not self.store.availability(model).available:
            return None
        import torch

        try:  # always on the CPU: the networks are tiny and a verdict must not depend on the device
            loaded = self.store.get(model, torch.device("cpu"))
        except ModelUnavailable:
            return None
        _keep(cache, key, ask(loaded))
        return cache[key]

    def _input(self, volume: "Volume", spec: "ModelSpec", index: int, digest: str) -> np.ndarray:
        key = (digest, index, spec.preprocess)
        if key not in self._inputs:
            _keep(self._inputs, key, gate_input(volume, spec, index))
        return self._inputs[key]


def _keep(cache: dict[Hashable, T], key: Hashable, value: T) -> None:
    if len(cache) >= KEPT:
        cache.pop(next(iter(cache)))
    cache[key] = value
