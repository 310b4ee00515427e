"""Lung masks for the models that need one (lung-masked input, mask-gated features, masked copies).

Sources, chosen by the recipe's ``data.lung_masks``:
- ``csv``: the row's ``mask_path`` (e.g. lung_seg's 0 / 127 / 255 masks; 255 = lung);
- ``unet``: the trained lung U-Net (``data.lung_mask_weights``: a run folder or exported weights
  folder; default ``resources/weights/lung_unet``), through ``covidviewer.models.unet.lung_mask``,
  the same function the app uses (the U-Net's probability thresholded at 0.5);
- ``auto``: the csv mask where a row has one, else the U-Net; fails with a clear message when a
  mask is needed and neither exists (never trains on an unmasked image silently).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from trainer.config import Recipe
from trainer.data.images import ImageCache, as_label_mask, lung_from_label_mask
from trainer.data.labels import Row
from trainer.trained import load_trained

REPO = Path(__file__).resolve().parents[2]
DEFAULT_UNET = REPO / "resources" / "weights" / "lung_unet"
#: where predicted masks are kept between runs (git-ignored); COVIDVIEWER_MASK_CACHE moves it
MASK_CACHE = Path(os.environ.get("COVIDVIEWER_MASK_CACHE") or REPO / "runs" / "lung_mask_cache")


class LungMaskError(ValueError):
    """A recipe needs lung masks that cannot be had."""


def _unet(weights: Path, device: str) -> Any:
    if not weights.exists():
        raise LungMaskError(
            f"lung masks needed but no trained lung U-Net at {weights} and no mask_path in the csv; "
            "train it first (python -m trainer fit lung_unet ...) or set data.lung_mask_weights"
        )
    trained = load_trained(weights)  # the shared lung_unet or another lung segmenter (e.g. lung_unet_style's)
    if trained.spec.task != "segmentation":
        raise LungMaskError(f"{weights} holds {trained.spec.name}, not a lung segmenter")
    return trained.model.to(device).float().eval(), trained.source


class PackedMasks(dict):
    """{image path: lung mask} that keeps a 0/1 mask as one byte a pixel and gives it back as float32, as every reader
    takes it. A float32 mask on a hospital's 2,000-3,000 px film is 20-35 MB: 500 films' masks alone would fill this
    machine. A mask with other values is kept as it is."""

    def __setitem__(self, key: Path, mask: np.ndarray) -> None:
        mask = np.asarray(mask)
        if mask.dtype != bool and np.array_equal(mask, mask.astype(bool)):  # exactly 0 and 1: nothing is lost
            mask = mask.astype(bool)
        super().__setitem__(key, mask)

    def __getitem__(self, key: Path) -> np.ndarray:
        mask = super().__getitem__(key)
        return mask.astype(np.float32) if mask.dtype == bool else mask

    def get(self, key: Path, default: np.ndarray | None = None) -> np.ndarray | None:  # type: ignore[override]
        return self[key] if key in self else default

    def update(self, *others: Any, **more: np.ndarray) -> None:  # type: ignore[override]
        for key, mask in dict(*others, **more).items():
            self[key] = mask


def _reads_ct_slices(recipe: Recipe) -> bool:
    """Whether the recipe's model reads CT slices, whose lungs are found on each slice, not by the lung U-Net."""
    from covidviewer.models import get_spec

    try:
        return get_spec(recipe.model).modality == "CT_SLICE"
    except KeyError:
        return False


def _ct_lung_masks(rows: Sequence[Row], cache: ImageCache) -> tuple[PackedMasks, str]:
    """A CT-slice model's masks: each slice's lungs found on it as the app finds them (``inputs.ct_lung_mask``)."""
    from covidviewer.inference.inputs import ct_lung_mask

    masks = PackedMasks()
    for row in rows:
        masks[row.path] = ct_lung_mask(*cache.get(row.path))
    found = sum(1 for row in rows if masks[row.path].any())
    return masks, (f"{len(rows)} CT slices' lungs as the dark regions the body encloses (covidviewer.imaging.ct_lungs; "
                   f"found on {found}, the rest read whole)")


def collect_lung_masks(rows: Sequence[Row], cache: ImageCache, recipe: Recipe, device: str = "cpu") -> tuple[PackedMasks, str]:
    """{image path: (H, W) float32 0/1 lung mask on its original grid} (kept packed, ``PackedMasks``), and a one-line
    description."""
    if _reads_ct_slices(recipe):
        return _ct_lung_masks(rows, cache)
    source = str(recipe["data"].get("lung_masks", "auto")).lower()
    if source not in ("csv", "unet", "auto"):
        raise LungMaskError(f"this recipe needs lung masks; data.lung_masks must be csv, unet or auto, not {source!r}")
    ignore = int(recipe["method"].get("ignore_value", 127))
    masks = PackedMasks()
    need_unet = []
    for row in rows:
        if source != "unet" and row.mask_path is not None:
            pixels, _ = cache.get(row.path)
            masks[row.path] = lung_from_label_mask(as_label_mask(cache.get(row.mask_path)[0], pixels.shape), ignore)
        elif source == "csv":
            raise LungMaskError(f"data.lung_masks = 'csv' but {row.path.name} has no mask_path")
        else:
            need_unet.append(row)
    parts = []
    if masks:
        parts.append(f"{len(masks)} from the csv's mask_path")
    if need_unet:
        from covidviewer.models.unet import MASK_RULE_VERSION, lung_mask

        weights = Path(recipe["data"].get("lung_mask_weights") or DEFAULT_UNET)
        model, described = _unet(weights, device)
        store = MaskStore(MASK_CACHE / f"{_weights_key(weights)}-rule{MASK_RULE_VERSION}")
        fresh = 0
        for row in need_unet:
            pixels, window = cache.get(row.path)
            mask = store.get(row.path, pixels.shape)
            if mask is None:
                mask = lung_mask(model, pixels, window)
                store.put(row.path, mask)
                fresh += 1
            masks[row.path] = mask
        parts.append(f"{len(need_unet)} predicted by the lung U-Net ({described}), threshold 0.5 ({len(need_unet) - fresh} from the mask store)")
    return masks, "; ".join(parts)


def _weights_key(weights: Path) -> str:
    """Short key of a U-Net weight set (its weight-set hash, or the run checkpoint's stat)."""
    if (weights / "model.json").is_file():
        from covidviewer.models.weights import weights_sha256

        return weights_sha256(weights)[:16]
    stat = (weights / "best.pt").stat() if (weights / "best.pt").is_file() else weights.stat()
    return hashlib.sha256(f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


class MaskStore:
    """U-Net lung masks kept on disk between runs (a pass over 1,600 films costs minutes on a CPU).

    Keyed by the weight set (the folder) and by the image's path, size and modification time, so
    a changed image or other weights never reuse a stale mask. Masks are 0/255 PNGs.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def _file(self, image: Path) -> Path:
        stat = image.stat()
        key = hashlib.sha256(f"{image.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]
        return self.folder / f"{key}.png"

    def get(self, image: Path, shape: tuple[int, ...]) -> np.ndarray | None:
        path = self._file(image)
        if not path.is_file():
            return None
        stored = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if stored is None or stored.shape != tuple(shape):
            return None
        return (stored > 127).astype(np.float32)

    def put(self, image: Path, mask: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # one temporary file per process: two runs started together fill the same store (a lent GPU)
        tmp = self._file(image).with_suffix(f".{os.getpid()}.tmp.png")
        cv2.imwrite(str(tmp), (mask > 0.5).astype(np.uint8) * 255)
        tmp.replace(self._file(image))
