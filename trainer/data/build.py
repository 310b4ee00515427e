"""From a recipe + labels.csv files to datasets: rows, bad-row report, patient split, lung masks.

Shared by ``fit`` and ``evaluate`` so both read, map, split and preprocess identically. Several
csvs (``--data`` repeated) are read with the same label map and split together, at patient level.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.inference.inputs import reads_ct
from trainer.config import Recipe
from trainer.data.augment import AugmentParams
from trainer.data.datasets import ClassificationDataset, SegmentationDataset, VolumeDataset
from trainer.data.images import ImageCache, volume_problem
from trainer.data.label_review import BUNDLED, read_review, reviewed_out
from trainer.data.kind_check import KIND_CHECK_MODES, gate_findings
from trainer.data.labels import LabelsError, LabelsReport, merge_reports, read_labels, too_few_classes
from trainer.data.views import read_view_tables
from trainer.data.masks import PackedMasks, collect_lung_masks
from trainer.data.splits import ALL_ROWS, Split, make_split
from trainer.trained_spec import effective_preprocess, effective_spec, needs_lung_masks

CsvPaths = Path | str | Sequence[Path | str]


def csv_list(csv_paths: CsvPaths) -> list[Path]:
    """One or several labels.csv paths as a list (a run summary stores a string or a list)."""
    if isinstance(csv_paths, (str, Path)):
        return [Path(csv_paths)]
    return [Path(p) for p in csv_paths]


@dataclass
class DataBundle:
    """Everything a run knows about its data (written to the run summary and the model card)."""

    report: LabelsReport
    split: Split
    pp: Preprocess
    cache: ImageCache
    lung_masks: dict[Path, np.ndarray] = field(default_factory=PackedMasks)
    lung_mask_source: str = ""
    lung_mask_use: str = "none"  # how the model as trained takes the mask (its spec, or the recipe's input.lung_mask)

    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.report.rows:
            counts[row.source or "(unspecified)"] = counts.get(row.source or "(unspecified)", 0) + 1
        return counts

    def describe(self) -> dict[str, Any]:
        return {
            "labels": self.report.to_dict(),
            "split_method": self.split.method,
            "counts": self.split.counts(),
            "sources": self.sources(),
            "lung_masks": self.lung_mask_source or "not used",
        }


def load_data(spec: Any, recipe: Recipe, csv_path: CsvPaths, device: str = "cpu", eval_split: str | None = None,
              training: bool = False) -> DataBundle:
    """Read and check every row of every csv, split by patient, and compute lung masks when the
    recipe needs them.

    eval_split: only that split will be used (evaluate / export): lung masks are computed for its
    rows only, and only when inference itself needs them.
    training: a classifier will be trained on the training rows: ``LabelsError`` when they hold fewer than two
    labels (``too_few_classes``), before any lung mask is computed. In training and on ``eval_split="all"`` (another
    hospital's films) the app's input gate is asked of every row first (``data.kind_check``).
    """
    data = recipe["data"]
    task = recipe["task"]
    pp = effective_preprocess(spec, recipe)
    cache = ImageCache(enabled=bool(data.get("cache_images", True)) and pp.kind != "ct_volume",
                       ct_reader=reads_ct(spec))
    check = volume_problem if pp.kind == "ct_volume" else cache.problem
    paths = csv_list(csv_path)
    child_sources = tuple(data.get("child_sources", []))
    view_table = read_view_tables(data.get("view_tables") or [])
    report = merge_reports([
        read_labels(
            path,
            classes=None if task == "segmentation" else tuple(spec.classes),
            label_map=data.get("label_map"),
            exclude_labels=data.get("exclude_labels", []),
            need_mask=task == "segmentation",
            check_readable=check,
            child_sources=child_sources,
            view_table=view_table,
        )
        for path in paths
    ])
    if (training or eval_split == ALL_ROWS) and task != "segmentation":  # what a model learns from, or a hospital's own test
        _check_kinds(report, cache, spec, str(data.get("kind_check", "warn")))
    # the split is made over the csvs' raw labels, before exclusions and merges (one split per data set)
    raw_rows = [row for path in paths for row in read_labels(path, classes=None, need_mask=task == "segmentation").rows]
    split = make_split(
        report.rows,
        float(data.get("val_fraction", 0.15)),
        int(recipe["seed"] if data.get("split_seed") is None else data["split_seed"]),
        folds=int(data.get("folds", 0)),
        fold=int(data.get("fold", 0)),
        split_rows=raw_rows,
        by_source=bool(data.get("stratify_by_source", False)),
        hold_out_sources=tuple(data.get("hold_out_sources", [])),
    )
    # after the split, which is made over the raw rows: every other row keeps its split
    split = _exclude_reviewed(report, split, data.get("label_review", BUNDLED))  # a recipe saved before the review gets it too
    problem = too_few_classes(report, split.rows("train"), tuple(spec.classes)) if training and task != "segmentation" else ""
    if problem:
        raise LabelsError(f"{problem}\n{report.summary()}")
    bundle = DataBundle(report=report, split=split, pp=pp, cache=cache, lung_mask_use=effective_spec(spec, recipe).lung_mask)
    if task != "segmentation" and needs_lung_masks(spec, recipe, training=eval_split is None):
        rows = report.rows if eval_split is None else split.rows(eval_split)
        bundle.lung_masks, bundle.lung_mask_source = collect_lung_masks(rows, cache, recipe, device)
    return bundle


def _check_kinds(report: LabelsReport, cache: ImageCache, spec: Any, mode: str) -> None:
    """The app's input gate on every row (``trainer.data.kind_check``): listed, or left out with "skip"."""
    if mode not in KIND_CHECK_MODES:
        raise ValueError(f"data.kind_check must be one of {', '.join(KIND_CHECK_MODES)}, not {mode!r}")
    if mode == "off":
        return
    found = gate_findings(report.rows, cache, spec)
    if found is None:
        report.gate_action = "not checked: the image-kind model is not installed"
        return
    report.gate_refused = [(row.path, why) for row, why in found]
    report.gate_action = "left out" if mode == "skip" else "kept"
    if mode == "skip":
        refused = {id(row) for row, _ in found}
        report.rows[:] = [row for row in report.rows if id(row) not in refused]


def _exclude_reviewed(report: LabelsReport, split: Split, setting: str) -> Split:
    """``split`` without the rows the label review excludes; they leave ``report.rows`` too, counted as excluded."""
    out = {(row.path, row.csv_label) for row in reviewed_out(report.rows, read_review(setting))}
    if not out:
        return split
    report.rows[:] = [row for row in report.rows if (row.path, row.csv_label) not in out]
    report.excluded["label review (the film contradicts its label)"] += len(out)
    kept = {name: [row for row in split.rows(name) if (row.path, row.csv_label) not in out] for name in ("train", "val", "test")}
    return replace(split, **kept)


def make_dataset(spec: Any, recipe_values: dict[str, Any], bundle: DataBundle, split_name: str, train: bool,
                 erased_copies: bool | None = None):
    """Dataset over one split; augmentation only for training (with ``recipe_values['augment']``); ``erased_copies``
    overrides the augmentation's switch (a 2D classifier's data set only)."""
    rows = bundle.split.rows(split_name)
    if not rows:
        raise ValueError(f"the {split_name!r} split is empty")
    augment = AugmentParams.from_recipe(recipe_values["augment"]) if train else None
    seed = int(recipe_values["seed"])
    if recipe_values["task"] == "segmentation":
        return SegmentationDataset(rows, bundle.pp, bundle.cache, augment, seed, int(recipe_values["method"]["ignore_value"]))
    if bundle.pp.kind == "ct_volume":
        return VolumeDataset(rows, bundle.pp, augment, seed, cache=bool(recipe_values["data"].get("cache_images", False)))
    return ClassificationDataset(
        rows,
        bundle.pp,
        bundle.cache,
        augment,
        seed,
        lung_masks=bundle.lung_masks,
        lung_mask_use=bundle.lung_mask_use,
        num_classes=0 if spec.binary_logit else len(spec.classes),
        erased_copies=erased_copies,
    )


def write_split_csv(bundle: DataBundle, dest: Path) -> None:
    """``split.csv`` in the run folder: which image (and patient) went where."""
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["split", "path", "label", "patient_id", "source"])
        for name in ("train", "val", "test"):
            for row in bundle.split.rows(name):
                writer.writerow([name, str(row.path), row.label, row.patient_id, row.source])
