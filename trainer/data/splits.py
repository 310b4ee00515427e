"""Patient-level, stratified, seed-deterministic train/validation splits and k-fold CV.

No patient ever appears in two splits. A patient is stratified by its most frequent label (ties
broken by name) so every class keeps roughly its share in each split. An existing ``split`` column
is respected when it names both train and validation rows (e.g. the official COVID-CT split).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from trainer.data.labels import Row

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation", "dev")


class SplitError(ValueError):
    """A split cannot be made (too few patients) or a given split leaks patients."""


@dataclass(frozen=True)
class Split:
    """Rows per split and how the split was made (for the model card)."""

    train: list[Row]
    val: list[Row]
    test: list[Row]
    method: str

    def rows(self, name: str) -> list[Row]:
        if name not in ("train", "val", "test"):
            raise SplitError(f"unknown split {name!r} (train, val, test)")
        return getattr(self, name)

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {label: images}} plus patients per split."""
        out: dict[str, dict[str, int]] = {}
        for name in ("train", "val", "test"):
            rows = self.rows(name)
            if rows:
                counts = dict(sorted(Counter(r.label for r in rows).items()))
                counts["_patients"] = len({r.patient_id for r in rows})
                out[name] = counts
        return out


def _patient_strata(rows: Sequence[Row]) -> dict[str, str]:
    labels: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        labels[r.patient_id][r.label] += 1
    return {p: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for p, c in labels.items()}


def _shuffled_by_stratum(rows: Sequence[Row], seed: int) -> dict[str, list[str]]:
    """Stratum -> its patients in a seed-determined order (independent of row order)."""
    strata = _patient_strata(rows)
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient in sorted(strata):
        by_stratum[strata[patient]].append(patient)
    rng = np.random.default_rng(seed)
    return {s: [ps[i] for i in rng.permutation(len(ps))] for s, ps in sorted(by_stratum.items())}


def stratified_patient_split(rows: Sequence[Row], val_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """(train, val) with about ``val_fraction`` of each stratum's patients in val."""
    if not 0.0 < val_fraction < 1.0:
        raise SplitError(f"val_fraction must be in (0, 1), got {val_fraction}")
    val_patients: set[str] = set()
    for stratum, patients in _shuffled_by_stratum(rows, seed).items():
        if len(patients) < 2:
            continue  # a single patient cannot be in both splits; it stays in train
        n_val = min(len(patients) - 1, max(1, round(len(patients) * val_fraction)))
        val_patients.update(patients[:n_val])
    if not val_patients:
        raise SplitError("too few patients per class for a validation split")
    train = [r for r in rows if r.patient_id not in val_patients]
    val = [r for r in rows if r.patient_id in val_patients]
    return train, val


def patient_folds(rows: Sequence[Row], folds: int, seed: int) -> dict[str, int]:
    """patient -> fold index in [0, folds), stratified: each stratum dealt round-robin."""
    if folds < 2:
        raise SplitError(f"k-fold needs at least 2 folds, got {folds}")
    assignment: dict[str, int] = {}
    start = 0
    for patients in _shuffled_by_stratum(rows, seed).values():
        for i, patient in enumerate(patients):
            assignment[patient] = (start + i) % folds
        start = (start + len(patients)) % folds  # keeps fold sizes even across strata
    if len(set(assignment.values())) < folds:
        raise SplitError(f"{len(assignment)} patients cannot fill {folds} folds")
    return assignment


def _given_split(rows: Sequence[Row]) -> tuple[list[Row], list[Row], list[Row]] | None:
    names = {r.split for r in rows}
    if not (names & set(TRAIN_NAMES) and names & set(VAL_NAMES)):
        return None
    train = [r for r in rows if r.split in TRAIN_NAMES]
    val = [r for r in rows if r.split in VAL_NAMES]
    test = [r for r in rows if r.split not in TRAIN_NAMES + VAL_NAMES]
    return train, val, test


def check_no_leak(*splits: Sequence[Row]) -> None:
    """Raise SplitError naming a patient found in two splits."""
    seen: dict[str, int] = {}
    for i, rows in enumerate(splits):
        for r in rows:
            j = seen.setdefault(r.patient_id, i)
            if j != i:
                raise SplitError(f"patient {r.patient_id!r} is in two splits; splits must be patient-level")


def make_split(
    rows: Sequence[Row],
    val_fraction: float,
    seed: int,
    folds: int = 0,
    fold: int = 0,
    split_rows: Sequence[Row] | None = None,
) -> Split:
    """The split a run trains on.

    folds > 1: k-fold CV at patient level, fold ``fold`` held out as val (DARNet's 5-fold protocol).
    Otherwise the csv's own train/val split when it has one, else a stratified patient split.
    split_rows: every row of the csv with its raw label; the patients are split over these, so models
    that drop or merge classes (the cascade stages, the 3-class VGG) share one validation split.
    """
    basis = list(split_rows) if split_rows is not None else list(rows)
    if folds and folds > 1:
        if not 0 <= fold < folds:
            raise SplitError(f"fold {fold} not in [0, {folds})")
        assignment = patient_folds(basis, folds, seed)
        train = [r for r in rows if assignment[r.patient_id] != fold]
        val = [r for r in rows if assignment[r.patient_id] == fold]
        split = Split(train, val, [], f"{folds}-fold patient-level stratified CV (seed {seed}), fold {fold} held out")
    elif (given := _given_split(rows)) is not None:
        split = Split(*given, method="the csv's own split column")
    else:
        val_patients = {r.patient_id for r in stratified_patient_split(basis, val_fraction, seed)[1]}
        train = [r for r in rows if r.patient_id not in val_patients]
        val = [r for r in rows if r.patient_id in val_patients]
        over = " over all rows of the csv" if split_rows is not None else ""
        split = Split(train, val, [], f"patient-level stratified {1 - val_fraction:.0%}/{val_fraction:.0%}{over} (seed {seed})")
    check_no_leak(split.train, split.val, split.test)
    return split
