"""How strong the finest detail of a model's adult training films is on its view of them, recorded on its card.

A console's edge enhancement or noise makes a film's finest detail stronger, smoothing or a coarser detector weaker,
and the networks here read that strength (covidviewer.inference.detail_check). This measures it on every adult film of
a split (``covidviewer.inference.inputs.plane_detail``: the RMS of the finest Laplacian band of the model's view,
before any detail standardisation; the function the app measures a film with) and keeps percentiles per csv label, so
the app can say when a film lies beyond the films the model learnt from. The cascade's record goes on stage 2's card,
measured on stage 2's view.

    python -m trainer detail-range MODEL --weights WEIGHTS_FOLDER --data cxr/labels.csv --data cxr_adult/labels.csv \\
        [--split train] [--write]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.inference.detail_check import LOWER, UPPER
from covidviewer.inference.inputs import plane_detail
from covidviewer.model_cards import DETAIL_RANGE_KEY
from trainer.card_edit import edited_card

PERCENTILES = {LOWER: 2.5, "p50": 50.0, UPPER: 97.5}
MEASURE = "RMS of the finest Laplacian band of the model's view of the film, before any detail standardisation"


def detail_values(bundle: Any, split: str, pp: Preprocess) -> dict[str, list[float]]:
    """The finest-detail strength on view ``pp`` (the card's own preprocessing, which the app measures with) of every
    adult film of ``split`` in ``bundle`` (trainer.data.build.DataBundle), by the csv's own label (a label map may merge
    normal films into another class)."""
    values: dict[str, list[float]] = {}
    for row in bundle.split.rows(split):
        if row.age_group == "child":
            continue
        pixels, window = bundle.cache.get(row.path)
        detail = plane_detail(pixels, pp, window, bundle.lung_masks.get(row.path))
        values.setdefault(row.csv_label or row.label, []).append(detail)
    return values


def detail_record(values: dict[str, list[float]], split: str) -> dict[str, Any]:
    """The card's record: per label, the number of films and the ``PERCENTILES`` of their finest detail."""
    labels = {
        label: {"n": len(found), **{key: round(float(np.percentile(found, q)), 5) for key, q in PERCENTILES.items()}}
        for label, found in sorted(values.items()) if found
    }
    return {"measure": MEASURE, "split": split, "films": "adult", "labels": labels}


def detail_lines(record: dict[str, Any]) -> list[str]:
    lines = [f"finest detail of the adult {record['split']} films ({record['measure']}):"]
    for label, found in record["labels"].items():
        lines.append(f"  {label} ({found['n']} films): {found[LOWER]:.4f} / {found['p50']:.4f} / {found[UPPER]:.4f} "
                     f"({', '.join(PERCENTILES)})")
    return lines


def record_on_card(folder: Path | str, record: dict[str, Any]) -> Path:
    """Keep ``record`` under the card's metrics in ``folder``; returns the card's path."""
    path = Path(folder) / "model.json"
    with edited_card(path) as card:
        card.setdefault("metrics", {})[DETAIL_RANGE_KEY] = record
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer detail-range", description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--weights", type=Path, required=True, help="exported weights folder (or a run folder without --write)")
    parser.add_argument("--data", action="append", required=True, help="labels.csv (repeat for several, as in fit)")
    parser.add_argument("--split", default="train", choices=("train", "val", "test"))
    parser.add_argument("--write", action="store_true", help="record it on the card in --weights")
    args = parser.parse_args(argv)
    from trainer.config import load_recipe, recipe_from_dict
    from trainer.data.build import load_data
    from trainer.trained import load_trained

    if args.write and not (args.weights / "model.json").is_file():
        print(f"error: --write needs an exported weights folder (no card at {args.weights / 'model.json'})")
        return 2
    trained = load_trained(args.weights, args.model)
    recipe = recipe_from_dict(trained.recipe) if trained.recipe is not None else load_recipe(args.model, None, [])
    bundle = load_data(trained.spec, recipe, args.data, eval_split=args.split)
    record = detail_record(detail_values(bundle, args.split, trained.spec.preprocess), args.split)
    if not record["labels"]:
        print(f"error: no adult film in the {args.split} split")
        return 2
    print("\n".join(detail_lines(record)))
    if args.write:
        print(f"recorded on {record_on_card(args.weights, record)}")
    return 0
