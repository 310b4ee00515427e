"""Tiny labelled data sets for the trainer tests: a few real images from ../shared/data when present
(referenced by absolute path, never copied), else generated ones, written as a labels.csv in tmp."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("COVIDVIEWER_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(2)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _pick_real(folder: str, labels: tuple[str, ...], per_label: int, split: str | None = None) -> list[dict[str, str]] | None:
    """First ``per_label`` rows per label, one image per patient, in a stable order."""
    csv_path = SHARED / folder / "labels.csv"
    if not csv_path.is_file():
        return None
    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    picked: list[dict[str, str]] = []
    for label in labels:
        seen: set[str] = set()
        for row in sorted(rows, key=lambda r: (r["patient_id"], r.get("path") or r.get("image_path", ""))):
            if row["label"] != label or row["patient_id"] in seen or (split and row.get("split") != split):
                continue
            seen.add(row["patient_id"])
            picked.append(row)
            if len(seen) == per_label:
                break
    return picked


def synthetic_chest(rng: np.random.Generator, target: int, size: tuple[int, int] = (96, 112)) -> tuple[np.ndarray, np.ndarray]:
    """A grey 'radiograph' with two dark lung ellipses and a class-specific bright blob, + its 0/127/255 mask."""
    h, w = size
    image = np.full(size, 170, np.uint8)
    mask = np.zeros(size, np.uint8)
    for cx in (w // 3, 2 * w // 3):
        cv2.ellipse(image, (cx, h // 2), (w // 7, h // 3), 0, 0, 360, 60, -1)
        cv2.ellipse(mask, (cx, h // 2), (w // 7, h // 3), 0, 0, 360, 255, -1)
    blob = (int(w * (0.25 + 0.5 * (target % 2))), int(h * (0.3 + 0.4 * (target // 2 % 2))))
    cv2.circle(image, blob, 6 + 2 * target, 250, -1)
    cv2.rectangle(mask, (2, 2), (10, 10), 127, -1)  # an "ignore" device marker
    noise = rng.normal(0, 8, size)
    return np.clip(image + noise, 0, 255).astype(np.uint8), mask


def _generated(tmp: Path, labels: tuple[str, ...], per_label: int, with_masks: bool, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for t, label in enumerate(labels):
        for i in range(per_label):
            image, mask = synthetic_chest(rng, t)
            name = f"{label}_{i}"
            cv2.imwrite(str(tmp / f"{name}.png"), image)
            row = [f"{name}.png", label, f"gen:{label}:{i}"]
            if with_masks:
                cv2.imwrite(str(tmp / f"{name}_mask.png"), mask)
                row.append(f"{name}_mask.png")
            rows.append(row)
    header = ["path", "label", "patient_id"] + (["mask_path"] if with_masks else [])
    return _write_csv(tmp / "labels.csv", header, rows)


@pytest.fixture
def generated_csv(tmp_path: Path) -> Callable[..., Path]:
    """``make(labels, per_label, with_masks, two_sources)`` -> synthetic radiographs (+ 0/127/255 lung masks);
    ``two_sources``: every other row from "hospital A", the rest from "hospital B" (the csv's source column)."""

    def make(labels: tuple[str, ...], per_label: int = 3, with_masks: bool = True, name: str = "generated",
             two_sources: bool = False) -> Path:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        csv_path = _generated(folder, labels, per_label, with_masks)
        return _with_two_sources(csv_path) if two_sources else csv_path

    return make


def _with_two_sources(csv_path: Path) -> Path:
    rows = list(csv.DictReader(open(csv_path, newline="")))
    for i, row in enumerate(rows):
        row["source"] = "hospital A" if i % 2 else "hospital B"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return csv_path


@pytest.fixture
def cxr_csv(tmp_path: Path) -> Callable[..., Path]:
    """``make(per_label=2, labels=(...))`` -> labels.csv of real cxr/ images (or generated ones)."""

    def make(per_label: int = 2, labels: tuple[str, ...] = ("covid", "normal", "bacterial", "viral")) -> Path:
        real = _pick_real("cxr", labels, per_label)
        if real is None:
            return _generated(tmp_path, labels, per_label, with_masks=False)
        rows = [[str(SHARED / "cxr" / r["path"]), r["label"], r["patient_id"]] for r in real]
        return _write_csv(tmp_path / "cxr.csv", ["path", "label", "patient_id"], rows)

    return make


@pytest.fixture
def lungseg_csv(tmp_path: Path) -> Callable[..., Path]:
    """``make(n=8)`` -> image/mask pairs (lung_seg/ format: image_path, mask_path) or generated ones."""

    def make(n: int = 8, label: str = "covid") -> Path:
        real = _pick_real("lung_seg", ("covid",), n)
        if real is None:
            return _generated(tmp_path, (label,), n, with_masks=True)
        rows = [[str(SHARED / "lung_seg" / r["image_path"]), str(SHARED / "lung_seg" / r["mask_path"]), r["patient_id"], label] for r in real]
        return _write_csv(tmp_path / "lung_seg.csv", ["image_path", "mask_path", "patient_id", "label"], rows)

    return make


@pytest.fixture
def ct_csv(tmp_path: Path) -> Callable[..., Path]:
    """``make(per_label=4)`` -> COVID-CT slices (covid / non_covid) or generated ones."""

    def make(per_label: int = 4) -> Path:
        labels = ("covid", "non_covid")
        real = _pick_real("ct_slices", labels, per_label, split="train")
        if real is None:
            return _generated(tmp_path, labels, per_label, with_masks=False)
        rows = [[str(SHARED / "ct_slices" / r["path"]), r["label"], r["patient_id"]] for r in real]
        return _write_csv(tmp_path / "ct.csv", ["path", "label", "patient_id"], rows)

    return make


@pytest.fixture
def volume_csv(tmp_path: Path) -> Callable[..., Path]:
    """``make(per_label=2)`` -> generated labelled CT volumes written as NIfTI (no 3D CT data exists here)."""

    def make(per_label: int = 2, shape: tuple[int, int, int] = (12, 40, 40)) -> Path:
        import SimpleITK as sitk

        rng = np.random.default_rng(0)
        rows = []
        for t, label in enumerate(("covid", "pneumonia", "normal")):
            for i in range(per_label):
                vol = rng.normal(-800, 40, shape).astype(np.float32)
                z = shape[0] // 2
                vol[z - 2 : z + 2, 10 + 6 * t : 18 + 6 * t, 10:30] = 40.0  # class-specific dense region (HU)
                image = sitk.GetImageFromArray(vol.astype(np.int16))
                image.SetSpacing((0.8, 0.8, 2.5))
                name = f"{label}_{i}.nii.gz"
                sitk.WriteImage(image, str(tmp_path / name))
                rows.append([name, label, f"vol:{label}:{i}"])
        return _write_csv(tmp_path / "volumes.csv", ["path", "label", "patient_id"], rows)

    return make
