"""The weights folder's format: file names, stored dtypes, the error every check raises, and the
refusal of pickle checkpoints. Shared by the writer, the reader and the installed-set checks."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from covidviewer.model_cards import SIDECAR

FORMAT = "covidviewer-weights"
FORMAT_VERSION = 1
INDEX = "model.safetensors.index.json"
SHARD_RE = re.compile(r"^model-(\d{5})-of-(\d{5})\.safetensors$")
#: sidecar "dtype" name -> the dtype floating tensors are stored in
STORED_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "int8": torch.int8}


class WeightsError(RuntimeError):
    """A weights folder is missing, incomplete, corrupted or does not fit the model."""


# torch.save / pickle files: loading one runs whatever code it holds, so they are refused by name.
PICKLE_SUFFIXES = {".pth", ".pt", ".ckpt", ".pkl", ".pickle", ".bin"}
PICKLE_REFUSED = "pickle checkpoints are not loaded (a weights file must not run code); export with python -m trainer export"


def pickle_offered(path: Path) -> Path | None:
    """The pickle checkpoint offered as weights: ``path`` itself, or one inside a folder without a sidecar."""
    if path.suffix.lower() in PICKLE_SUFFIXES and not path.is_dir():
        return path
    if path.is_dir() and not (path / SIDECAR).exists():
        return next((p for p in sorted(path.iterdir()) if p.suffix.lower() in PICKLE_SUFFIXES), None)
    return None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def few_names(names: list[str]) -> str:
    """The first five names and how many more, for an error message."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
