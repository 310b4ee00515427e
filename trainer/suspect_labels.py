"""``python -m trainer suspect-labels``: the films whose csv label the trained models believe least, for a person
to look at.

    python -m trainer evaluate dpn92_se --weights resources/weights/dpn92_se --data ... --split train --out runs/eval_dpn
    python -m trainer suspect-labels runs/eval_dpn/predictions.csv [runs/eval_vgg/predictions.csv ...] \\
        --out runs/suspects [--top 48] [--label normal] [--source ieee8023]

Each film is scored by the probability the models give its own label (the mean over the predictions files that
score it); the lowest come first, in ``suspects.csv`` and a captioned contact sheet ``suspects.png``. A label
with no single column (a set target such as "pneumonia, cause unknown") is skipped and counted. What to do with a
film that a look confirms is mislabelled: add it to a label review file (``trainer/data/label_review.py``; its
SHA-256 is in ``suspects.csv``). A low score is a reason to look, never a verdict: early COVID-19 can look
normal, and a model that learnt a shortcut disbelieves the films that contradict it.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

TILE = 192
CAPTION = 30


def read_scores(paths: Sequence[Path]) -> tuple[dict[str, dict[str, str]], dict[str, list[float]], Counter]:
    """(rows by image path, p(own label) per model by image path, skipped labels) over the predictions files."""
    rows: dict[str, dict[str, str]] = {}
    scores: dict[str, list[float]] = {}
    skipped: Counter = Counter()
    for path in paths:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                column = f"p_{row['label']}"
                if column not in row:
                    skipped[row["label"]] += 1
                    continue
                rows.setdefault(row["path"], row)
                scores.setdefault(row["path"], []).append(float(row[column]))
    return rows, scores, skipped


def suspects(rows: dict[str, dict[str, str]], scores: dict[str, list[float]], top: int, label: str = "",
             source: str = "") -> list[tuple[str, float]]:
    """The ``top`` (path, mean p(own label)) lowest first, of ``label`` only and paths containing ``source``."""
    chosen = [(p, float(np.mean(s))) for p, s in scores.items()
              if (not label or rows[p]["label"] == label) and source in p]
    return sorted(chosen, key=lambda item: (item[1], item[0]))[:top]


def contact_sheet(found: Sequence[tuple[str, float]], rows: dict[str, dict[str, str]], columns: int = 6) -> np.ndarray:
    """Grey tiles, each captioned with its rank, label, mean p(own label) and file name."""
    tiles = []
    for rank, (path, score) in enumerate(found, 1):
        tile = np.zeros((TILE + CAPTION, TILE), np.uint8)
        image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if image is not None:
            scale = TILE / max(image.shape)
            small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
            y, x = (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
            tile[CAPTION + y:CAPTION + y + small.shape[0], x:x + small.shape[1]] = small
        cv2.putText(tile, f"{rank}. {rows[path]['label']} p={score:.2f}", (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, 255, 1)
        cv2.putText(tile, Path(path).name[-30:], (3, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.33, 200, 1)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros((TILE + CAPTION, TILE), np.uint8))
    return np.vstack([np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)])


def write(found: Sequence[tuple[str, float]], rows: dict[str, dict[str, str]], scores: dict[str, list[float]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "suspects.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "path", "label", "patient_id", "mean_p_label", "p_label_per_model", "sha256"])
        for rank, (path, score) in enumerate(found, 1):
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest() if Path(path).is_file() else ""
            writer.writerow([rank, path, rows[path]["label"], rows[path].get("patient_id", ""), f"{score:.4f}",
                             " ".join(f"{s:.4f}" for s in scores[path]), digest])
    if found:
        cv2.imwrite(str(out / "suspects.png"), contact_sheet(found, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer suspect-labels", description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", nargs="+", type=Path, help="predictions.csv of `trainer evaluate --out` (one per model)")
    parser.add_argument("--out", type=Path, required=True, help="folder for suspects.csv and suspects.png")
    parser.add_argument("--top", type=int, default=48)
    parser.add_argument("--label", default="", help="only films of this label")
    parser.add_argument("--source", default="", help="only films whose path contains this text")
    args = parser.parse_args(argv)
    inputs = {p.resolve() for p in args.predictions}
    if any((args.out / name).resolve() in inputs for name in ("suspects.csv", "suspects.png")):
        print("error: --out would overwrite an input", file=sys.stderr)
        return 2
    rows, scores, skipped = read_scores(args.predictions)
    found = suspects(rows, scores, args.top, args.label, args.source)
    write(found, rows, scores, args.out)
    if skipped:
        print("skipped (no single column for the label, e.g. a set target): "
              + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    print(f"{len(found)} films whose label the models believe least, in {args.out / 'suspects.csv'}"
          + (f" and {args.out / 'suspects.png'}" if found else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
