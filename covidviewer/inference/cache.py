"""Result cache keyed by (image hash, model, weights hash, method, options), bounded in bytes (LRU).

Re-analysing the same image with the same trained weights and method returns the stored result
(maps included) instantly; new weights change the weights hash and so miss the cache.
"""
from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Hashable

import numpy as np

from covidviewer.inference.results import ModelResult

if TYPE_CHECKING:
    from covidviewer.io.volume import Volume

DEFAULT_MAX_BYTES = 1 << 30


def image_hash(volume: "Volume") -> str:
    """SHA-256 of what the models see: pixels (shape, dtype, bytes), default window, modality, RGB flag."""
    h = hashlib.sha256()
    pixels = np.ascontiguousarray(volume.pixels)
    h.update(repr((pixels.shape, str(pixels.dtype), tuple(volume.default_window), volume.modality, volume.is_rgb)).encode())
    h.update(memoryview(pixels).cast("B"))
    return h.hexdigest()


def _result_bytes(result: ModelResult) -> int:
    arrays = [result.heatmap, result.slice_importance] + [s.heatmap for s in result.stages]
    return 4096 + sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


class ResultCache:
    """Thread-safe LRU of ModelResults; ``max_bytes`` bounds the maps it holds."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[ModelResult, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(image: str, model: str, weights_sha256: str, method: str, **options: Any) -> Hashable:
        """(image hash, model, weights hash, method, sorted options such as LIME samples or slice)."""
        return (image, model, weights_sha256, method, tuple(sorted(options.items())))

    def get(self, key: Hashable) -> ModelResult | None:
        """A copy of the stored result marked ``from_cache``, or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
        result = copy.copy(item[0])
        result.warnings = list(result.warnings)
        result.from_cache = True
        return result

    def put(self, key: Hashable, result: ModelResult) -> None:
        size = _result_bytes(result)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            self._items[key] = (result, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, old) = self._items.popitem(last=False)
                self._bytes -= old

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)
