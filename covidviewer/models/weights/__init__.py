"""Weights on disk: safetensors shards + index + a JSON sidecar (never pickle).

A weights folder (``resources/weights/<spec.weights>/``, or ``$COVIDVIEWER_WEIGHTS_DIR/<spec.weights>``)::

    model-00001-of-00003.safetensors ...   shards of at most ``shard_mib`` MiB (a single tensor
                                           bigger than that gets a shard of its own)
    model.safetensors.index.json           {"metadata": {"total_size": n}, "weight_map": {tensor: shard}}
    model.json                             sidecar: ModelSpec, SHA-256 + size of every shard, dtype,
                                           training summary, metrics, known biases, date, git commit

The state dict is saved whole, BatchNorm running statistics included. Floating tensors are stored
in ``dtype`` (fp16 by default) and cast back to the model's dtype (fp32) on load; integer buffers
keep their type. ``dtype=torch.int8`` stores every weight matrix / kernel (2-D or more, at least
``INT8_MIN_NUMEL`` values) as int8 with one fp32 scale per output channel (``<name>.__scale__``,
symmetric, max-abs / 127) and the rest in fp16: half the size of fp16, which is what lets a
retrained large network be shipped again (the repository's history holds every weight set).
The exported card's metrics are always measured on the stored weights, so they include the
rounding. Loading checks the sidecar format and spec, every shard's size and SHA-256, and
every tensor's name, shape and finiteness, and raises ``WeightsError`` naming the file, the tensor,
and what was expected vs found.

Composites (``spec.parts``, e.g. cascade_semenet) have no folder of their own: each part
attribute is loaded from its registered model's folder, and the composite counts as trained only
when every part is. ``save_weights``/``load_weights`` themselves work on any module, so a composite
can still be saved as one set into an explicit folder.

Where each piece lives: ``format`` (file names, dtypes, ``WeightsError``, pickle refusal),
``storage`` (fp16 / int8 storage of tensors), ``writer`` (``save_weights``), ``reader``
(``read_sidecar``, the checks, ``load_weights``) and ``installed`` (a registered model's installed
set: folder, status, hash, trained model). This package re-exports their public names.
"""
from __future__ import annotations

from covidviewer.model_cards import SIDECAR, WEIGHTS_ENV, weights_root
from covidviewer.models.weights.format import (
    FORMAT,
    FORMAT_VERSION,
    INDEX,
    PICKLE_REFUSED,
    PICKLE_SUFFIXES,
    SHARD_RE,
    WeightsError,
)
from covidviewer.models.weights.installed import (
    installed_builder_kwargs,
    installed_weights_sha256,
    load_trained_model,
    weights_dir_for,
    weights_sha256,
    weights_status,
)
from covidviewer.models.weights.reader import builder_kwargs, load_weights, read_sidecar
from covidviewer.models.weights.writer import save_weights

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "INDEX",
    "PICKLE_REFUSED",
    "PICKLE_SUFFIXES",
    "SHARD_RE",
    "SIDECAR",
    "WEIGHTS_ENV",
    "WeightsError",
    "builder_kwargs",
    "installed_builder_kwargs",
    "installed_weights_sha256",
    "load_trained_model",
    "load_weights",
    "read_sidecar",
    "save_weights",
    "weights_dir_for",
    "weights_root",
    "weights_sha256",
    "weights_status",
]
