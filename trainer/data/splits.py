"""Patient-level, stratified, seed-deterministic train/validation splits and k-fold CV.

No patient ever appears in two splits. A patient is stratified by its most frequent label (ties
broken by name) so every class keeps roughly its share in each split. An existing ``split`` column
is respected when it names both train and validation rows (e.g. the official COVID-CT split).
With ``by_source`` a stratum is (label, source), so every hospital keeps its share in each split:
a per-source audit then has validation rows of every source.
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


#: the split name that means every row of the csvs (``trainer evaluate --split all``)
ALL_ROWS = "all"


@dataclass(frozen=True)
class Split:
    """Rows per split and how the split was made (for the model card)."""

    train: list[Row]
    val: list[Row]
    test: list[Row]
    method: str

    def rows(self, name: str) -> list[Row]:
        """The rows of one split; "all": every row, whatever its split (films of a hospital no network here saw)."""
        if name == ALL_ROWS:
            return [*self.train, *self.val, *self.test]
        if name not in ("train", "val", "test"):
            raise SplitError(f"unknown split {name!r} (train, val, test, {ALL_ROWS})")
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


def _patient_strata(rows: Sequence[Row], by_source: bool = False) -> dict[str, str]:
    labels: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        labels[r.patient_id][f"{r.label}|{r.source}" if by_source else r.label] += 1
    return {p: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for p, c in labels.items()}


def _shuffled_by_stratum(rows: Sequence[Row], seed: int, by_source: bool = False) -> dict[str, list[str]]:
    """Stratum -> its patients in a seed-determined order (independent of row order)."""
    strata = _patient_strata(rows, by_source)
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient in sorted(strata):
        by_stratum[strata[patient]].append(patient)
    rng = np.random.default_rng(seed)
    return {s: [ps[i] for i in rng.permutation(len(ps))] for s, ps in sorted(by_stratum.items())}


def stratified_patient_split(rows: Sequence[Row], val_fraction: float, seed: int, by_source: bool = False) -> tuple[list[Row], list[Row]]:
    """(train, val) with about ``val_fraction`` of each stratum's patients in val."""
    if not 0.0 < val_fraction < 1.0:
        raise SplitError(f"val_fraction must be in (0, 1), got {val_fraction}")
    val_patients: set[str] = set()
    for stratum, patients in _shuffled_by_stratum(rows, seed, by_source).items():
        if len(patients) < 2:
            continue  # a single patient cannot be in both splits; it stays in train
        n_val = min(len(patients) - 1, max(1, round(len(patients) * val_fraction)))
        val_patients.update(patients[:n_val])
    if not val_patients:
        raise SplitError("too few patients per class for a validation split")
    train = [r for r in rows if r.patient_id not in val_patients]
    val = [r for r in rows if r.patient_id in val_patients]
    return train, val


def patient_folds(rows: Sequence[Row], folds: int, seed: int, by_source: bool = False) -> dict[str, int]:
    """patient -> fold index in [0, folds), stratified: each stratum dealt round-robin."""
    if folds < 2:
        raise SplitError(f"k-fold needs at least 2 folds, got {folds}")
    assignment: dict[str, int] = {}
    start = 0
    for patients in _shuffled_by_stratum(rows, seed, by_source).values():
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
    by_source: bool = False,
    hold_out_sources: Sequence[str] = (),
) -> Split:
    """The split a run trains on.

    folds > 1: k-fold CV at patient level, fold ``fold`` held out as val (DARNet's 5-fold protocol).
    Otherwise the csv's own train/val split when it has one, else a stratified patient split.
    split_rows: every row of the csv with its raw label; the patients are split over these, so models
    that drop or merge classes (the cascade stages, the 3-class VGG) share one validation split.
    by_source: stratify by (label, source) instead of label.
    hold_out_sources: rows whose source contains one of these go to the test split, never to train
        or val (leave-sources-out: train without a hospital, then score on it).
    """
    if hold_out_sources:
        held = [r for r in rows if any(h.lower() in r.source.lower() for h in hold_out_sources)]
        if not held:
            raise SplitError(f"no row's source matches hold_out_sources {list(hold_out_sources)}")
        held_patients = {r.patient_id for r in held}
        inner = make_split(
            [r for r in rows if r.patient_id not in held_patients],
            val_fraction, seed, folds, fold,
            [r for r in (split_rows or rows) if r.patient_id not in held_patients],
            by_source,
        )
        split = Split(inner.train, inner.val, [r for r in rows if r.patient_id in held_patients], f"{inner.method}; held out as test: {', '.join(hold_out_sources)}")
        check_no_leak(split.train, split.val, split.test)
        return split
    basis = list(split_rows) if split_rows is not None else list(rows)
    if folds and folds > 1:
        if not 0 <= fold < folds:
            raise SplitError(f"fold {fold} not in [0, {folds})")
        assignment = patient_folds(basis, folds, seed, by_source)
        train = [r for r in rows if assignment[r.patient_id] != fold]
        val = [r for r in rows if assignment[r.patient_id] == fold]
        split = Split(train, val, [], f"{folds}-fold patient-level stratified CV (seed {seed}), fold {fold} held out")
    elif (given := _given_split(rows)) is not None:
        split = Split(*given, method="the csv's own split column")
    else:
        val_patients = {r.patient_id for r in stratified_patient_split(basis, val_fraction, seed, by_source)[1]}
        train = [r for r in rows if r.patient_id not in val_patients]
        val = [r for r in rows if r.patient_id in val_patients]
        over = " over all rows of the csv" if split_rows is not None else ""
        by = " by label and source" if by_source else ""
        split = Split(train, val, [], f"patient-level stratified{by} {1 - val_fraction:.0%}/{val_fraction:.0%}{over} (seed {seed})")
    check_no_leak(split.train, split.val, split.test)
    return split
