"""Validation accuracy of the image-kind model per class and per source, and its CPU time per image.

    python -m trainer.image_kind_report resources/weights/image_kind --data data/image_kind/labels.csv

Reads the exported weights the way the app does (``load_weights``) and the validation rows of the
csv written by ``python -m trainer.data.image_kind``; prints a table (and JSON with ``--json``).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def evaluate(weights: Path, data_csv: Path, threads: int = 1) -> dict[str, Any]:
    """{"per_class": {...}, "per_source": {...}, "confusion": ..., "ms_per_image": ...} on the val split."""
    import torch

    from covidviewer.inference.image_kind import classify_image_kind
    from covidviewer.io import load_path
    from covidviewer.models import create_model
    from covidviewer.models.weights import load_weights

    torch.set_num_threads(threads)
    from covidviewer.models.spec import ModelSpec
    from covidviewer.models.weights import read_sidecar

    model = load_weights(create_model("image_kind"), weights).eval()
    spec = ModelSpec.from_dict(read_sidecar(weights)["spec"])  # as trained and exported
    with open(data_csv, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "val"]
    classes = list(spec.classes)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    hits: dict[str, list[int]] = defaultdict(list)
    by_class: dict[str, list[int]] = defaultdict(list)
    seconds = 0.0
    for row in rows:
        volume = load_path((data_csv.parent / row["path"]).resolve())
        start = time.perf_counter()
        kind = classify_image_kind(model, spec, volume)
        seconds += time.perf_counter() - start
        assert kind is not None
        ok = int(kind.kind == row["label"])
        confusion[classes.index(row["label"]), classes.index(kind.kind)] += 1
        source = row["source"].split(":")[0]
        hits[f"{row['label']} | {source}"].append(ok)
        by_class[row["label"]].append(ok)
    return {
        "n": len(rows),
        "accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
        "per_class": {k: {"n": len(v), "accuracy": float(np.mean(v))} for k, v in sorted(by_class.items())},
        "per_source": {k: {"n": len(v), "accuracy": float(np.mean(v))} for k, v in sorted(hits.items())},
        "confusion": {"classes": classes, "rows_true_cols_predicted": confusion.tolist()},
        "ms_per_image": 1000 * seconds / max(len(rows), 1),
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.image_kind_report", description=__doc__.split("\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/image_kind/labels.csv"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = evaluate(args.weights, args.data, args.threads)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"validation: {report['n']} images, accuracy {report['accuracy']:.3f}; "
          f"{report['ms_per_image']:.1f} ms per image (preprocessing + forward, {report['threads']} thread)")
    for title in ("per_class", "per_source"):
        print(title.replace("_", " ") + ":")
        for name, stat in report[title].items():
            print(f"  {name:<70} {stat['accuracy']:.3f}  (n={stat['n']})")
    print("confusion (rows true, columns predicted):", report["confusion"]["classes"])
    for line in report["confusion"]["rows_true_cols_predicted"]:
        print("  ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
