"""The gate's small networks asked once per image, on the CPU: the image-kind model (what the image is; and whether
a film is a frontal chest film once turned or inverted back) and the mirror check (is a frontal film stored
mirrored?), which together say how the models read a film (``reading``, ``covidviewer.inference.film_hanging``).
The image-kind model, the upright check and the mirror check read the same 128 px input, made once per plane (``gate_input``: the
shrink of a 2,000 px film costs more than either forward). Qt-free; the Predictor owns one.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Hashable, TypeVar

import numpy as np

from covidviewer.imaging.body_region import CHEST_SHAPE_BELOW
from covidviewer.imaging.hanging import Hanging, framed_box
from covidviewer.inference.cache import image_hash
from covidviewer.inference.film_hanging import TURNED_AT, FilmReading, TurnedFilm, holds_grey, read_volume, turned_candidates
from covidviewer.inference.film_mirror import MIRROR_MODEL, FilmSide, classify_film_side, header_side
from covidviewer.inference.film_upright import UPRIGHT_MODEL, UPSIDE_DOWN_AT, p_upside_down
from covidviewer.inference.gate import CT_SLICE_KIND, FRONTAL, IMAGE_KIND_MODEL, OTHER_KIND, ImageKind
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
        self._upside_down: dict[Hashable, float | None] = {}
        self._inputs: dict[Hashable, np.ndarray] = {}
        self._readings: dict[Hashable, tuple[FilmReading, str]] = {}

    def reading(self, volume: "Volume", digest: str) -> tuple["Volume", FilmReading, str]:
        """(the film as the models read it, how, its hash): a 2D grey film that is "other" as stored but a frontal
        chest film turned or inverted back is read so, then mirrored back where the mirror check says so; anything
        else is read as stored (``FilmReading()``)."""
        if digest not in self._readings:
            _keep(self._readings, digest, self._read(volume, digest))
        reading, read_digest = self._readings[digest]
        return (read_volume(volume, reading.hanging) if reading.hanging else volume), reading, read_digest

    def _read(self, volume: "Volume", digest: str) -> tuple[FilmReading, str]:
        grey = holds_grey(volume)
        if grey:  # the rest reads the film as grey, and its digest is the grey film's
            volume = read_volume(volume, Hanging(grey=True))
            digest = image_hash(volume)
        if not volume.is_2d or volume.is_rgb:
            return FilmReading(), digest
        kind = self.image_kind(volume, None, None, digest)
        turned = self._turned(volume, kind) if kind is not None and kind.verdict == OTHER_KIND else None
        if kind is not None and kind.verdict == FRONTAL:
            turned = self._upside_down_film(volume, kind, digest)
        if turned is None and kind is not None and kind.verdict == OTHER_KIND:
            framed = self._framed_slice(volume, kind)
            if framed is not None:  # a CT slice: no mirror check
                return FilmReading(framed, None, grey), image_hash(read_volume(volume, framed.hanging))
        upright, upright_digest = volume, digest
        if turned is not None:
            upright = read_volume(volume, turned.hanging)
            upright_digest = image_hash(upright)
        side = self.film_side(upright, upright_digest)
        header, orientation = header_side(volume.meta)
        if side is not None and turned is None and header:  # the file says which way it is hung (not of a turned film)
            side = replace(side, header=header, orientation=orientation)
        reading = FilmReading(turned, side, grey)
        if side is None or not side.mirrored:
            return reading, upright_digest
        return reading, image_hash(read_volume(volume, reading.hanging))

    def _turned(self, volume: "Volume", as_stored: ImageKind) -> TurnedFilm | None:
        """The way of reading the film (quarter turns, inversion) that makes it most surely a frontal chest film,
        where that reaches ``TURNED_AT``."""
        loaded = self._loaded(IMAGE_KIND_MODEL)
        if loaded is None:
            return None
        tries = []
        for hanging in turned_candidates(volume):
            kind = classify_image_kind(loaded.model, loaded.spec, read_volume(volume, hanging))
            tries.append((0.0 if kind is None else kind.probability(FRONTAL), hanging))
        p_frontal, hanging = max(tries, key=lambda pair: pair[0])
        return TurnedFilm(hanging, as_stored, p_frontal) if p_frontal >= TURNED_AT else None

    def _framed_slice(self, volume: "Volume", as_stored: ImageKind) -> TurnedFilm | None:
        """An image that is "other" as stored but a CT slice inside a frame of one grey (a figure's or a screenshot's
        margins; ``framed_box``), where the image-kind model is sure of it there (``TURNED_AT``) and its body fills the
        frame as a slice's fills a slice (``CHEST_SHAPE_BELOW``: every real slice 67% or more; two icons side by side on
        a page, 45%): read inside it."""
        box = framed_box(volume.pixels[0])
        loaded = self._loaded(IMAGE_KIND_MODEL)
        if box is None or loaded is None:
            return None
        hanging = Hanging(crop=box, stored_shape=tuple(volume.shape[1:]))  # type: ignore[arg-type]
        inside = classify_image_kind(loaded.model, loaded.spec, read_volume(volume, hanging))
        if inside is None or inside.verdict != CT_SLICE_KIND or inside.score < TURNED_AT:
            return None
        if inside.body_share is None or inside.body_share < CHEST_SHAPE_BELOW:
            return None
        return TurnedFilm(hanging, as_stored, inside.score, read_as=CT_SLICE_KIND)

    def _upside_down_film(self, volume: "Volume", as_stored: ImageKind, digest: str) -> TurnedFilm | None:
        """A film the image-kind model calls frontal that the upright check is sure is upside down, read turned back."""
        p = self._ask(self._upside_down, digest, UPRIGHT_MODEL,
                      lambda loaded: p_upside_down(loaded.model, loaded.spec, volume, self._input(volume, loaded.spec, 0, digest)))
        if p is None or p < UPSIDE_DOWN_AT:
            return None
        hanging = Hanging(quarter_turns=2)
        turned = self._loaded(IMAGE_KIND_MODEL)
        kind = None if turned is None else classify_image_kind(turned.model, turned.spec, read_volume(volume, hanging))
        return TurnedFilm(hanging, as_stored, 0.0 if kind is None else kind.probability(FRONTAL), p_upside_down=p)

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
        loaded = self._loaded(model)
        if loaded is None:
            return None
        _keep(cache, key, ask(loaded))
        return cache[key]

    def _loaded(self, model: str) -> LoadedModel | None:
        if not self.store.availability(model).available:
            return None
        import torch

        try:  # always on the CPU: the networks are tiny and a verdict must not depend on the device
            return self.store.get(model, torch.device("cpu"))
        except ModelUnavailable:
            return None

    def _input(self, volume: "Volume", spec: "ModelSpec", index: int, digest: str) -> np.ndarray:
        key = (digest, index, spec.preprocess)
        if key not in self._inputs:
            _keep(self._inputs, key, gate_input(volume, spec, index))
        return self._inputs[key]


def _keep(cache: dict[Hashable, T], key: Hashable, value: T) -> None:
    if len(cache) >= KEPT:
        cache.pop(next(iter(cache)))
    cache[key] = value
