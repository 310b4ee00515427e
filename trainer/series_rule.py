"""Choose a CT-slice model's series rule on the validation split and write it into its card.

The app gives one answer per CT series by aggregating slice scores (covidviewer.inference.series_scan).
Which aggregate — the highest slice, the mean, or the mean of the k highest — is chosen here by the
patient-level AUC on the validation split: every slice of a patient is scored through the app's own
Predictor (gate, preprocessing, calibration) and the patient's slices are aggregated by each
candidate rule. Rules within ``tolerance`` of the best AUC count as equal, and the first of them in
``CANDIDATES`` wins: a real series has hundreds of slices, most without disease, while a validation
patient has 1-16 hand-picked ones, so rules that do not depend on the number of slices (top-k, max)
come before the mean, which a long series dilutes.

    python -m trainer series-rule dresunet --data ../shared/data/ct_slices/labels.csv [--write]
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from covidviewer.inference.series_scan import CARD_KEY, SeriesRule
from trainer.card_edit import edited_card
from trainer.metrics import roc_auc

CANDIDATES = (SeriesRule("top_k_mean", 3), SeriesRule("top_k_mean", 5), SeriesRule("top_k_mean", 2),
              SeriesRule("max"), SeriesRule("mean"))
TOLERANCE = 0.01


def rule_table(patients: dict[str, tuple[bool, list[float]]], candidates: Sequence[SeriesRule] = CANDIDATES) -> list[dict[str, Any]]:
    """Patient-level AUC of each rule: ``patients`` maps id -> (is positive, slice scores)."""
    positive = np.array([p for p, _ in patients.values()], dtype=bool)
    rows = []
    for rule in candidates:
        score = np.array([rule.aggregate(np.asarray(s, dtype=np.float64)) for _, s in patients.values()])
        rows.append({"rule": rule.to_dict(), "describe": rule.describe(), "patient_auc": roc_auc(positive, score)})
    return rows


def best_rule(table: list[dict[str, Any]], tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The first row (in candidate order) whose AUC is within ``tolerance`` of the highest."""
    aucs = [np.nan_to_num(row["patient_auc"], nan=-1.0) for row in table]
    best = max(aucs)
    return next(row for row, auc in zip(table, aucs) if auc >= best - tolerance)


def slice_scores(model: str, csv_path: Path, split: str) -> tuple[dict[str, tuple[bool, list[float]]], int]:
    """(patient id -> (positive, calibrated positive-class scores), slices the gate refused)."""
    from covidviewer.inference import Predictor
    from covidviewer.io.load import load_path

    predictor = Predictor(device="cpu")
    spec = predictor.store.spec(model)
    positive_class = spec.classes[1]
    root = csv_path.parent
    patients: dict[str, tuple[bool, list[float]]] = {}
    refused = 0
    scores: dict[str, list[float]] = defaultdict(list)
    labels: dict[str, bool] = {}
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("split", "") == split]
    for row in rows:
        result = predictor.analyse(load_path(root / row["path"]), model).result(model)
        if result is None or not result.ok:
            refused += 1
            continue
        scores[row["patient_id"]].append(result.probabilities[positive_class])
        labels[row["patient_id"]] = row["label"].lower().replace("-", "_") in ("covid", "covid_19", positive_class.lower())
    for pid, values in scores.items():
        patients[pid] = (labels[pid], values)
    return patients, refused


def write_rule(model: str, chosen: dict[str, Any], table: list[dict[str, Any]], csv_path: Path, split: str,
               patients: int, tolerance: float) -> Path:
    """Record the chosen rule (and every candidate's AUC) in the installed card of ``model``."""
    from covidviewer.model_cards import SIDECAR, weights_root
    from covidviewer.models import get_spec

    path = weights_root() / get_spec(model).weights / SIDECAR
    with edited_card(path) as card:
        card[CARD_KEY] = {
            **chosen["rule"], "tolerance": tolerance,
            "chosen_on": f"{split} split of {csv_path.parent.name}/{csv_path.name}, {patients} patients",
            "patient_auc": chosen["patient_auc"], "candidates": table, "date": date.today().isoformat(),
        }
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer series-rule", description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True, type=Path, help="labels.csv of CT slices with patient_id and split")
    parser.add_argument("--split", default="val")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="AUCs this close to the best count as equal")
    parser.add_argument("--write", action="store_true", help="write the chosen rule into the installed card")
    args = parser.parse_args(argv)
    patients, refused = slice_scores(args.model, args.data, args.split)
    table = rule_table(patients)
    for row in table:
        print(f"{row['describe']:<36} patient AUC {row['patient_auc']:.3f}")
    chosen = best_rule(table, args.tolerance)
    print(f"chosen: {chosen['describe']} ({len(patients)} patients; {refused} slices refused by the gate)")
    if args.write:
        print(f"written to {write_rule(args.model, chosen, table, args.data, args.split, len(patients), args.tolerance)}")
    return 0
