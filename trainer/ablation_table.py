"""The DResUNet ablation table (the thesis's Table 5.1) from the installed model cards.

Each card's validation figures are the ones ``python -m trainer evaluate MODEL --weights
resources/weights/MODEL --data ...`` reproduces (a slow test checks every shipped card), so the
table is read from the cards rather than re-computed; a model without trained weights is a row
that says so.

    python -m trainer ablation-table [dresunet resunet resunet_ecsa resunet_fprm]
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Sequence

ABLATIONS = ("dresunet", "resunet_fprm", "resunet_ecsa", "resunet")
#: what the thesis reports for DResUNet at 256 px (Table 5.1); the ablations' rows are not transcribed here
THESIS = {"dresunet": "accuracy 85.54%, AUC 95.02 (256 px)"}


def table_rows(models: Sequence[str]) -> list[dict[str, Any]]:
    """One row per model: its validation figures with 95% patient-bootstrap intervals and how it was
    trained (the same cells Help > About shows: covidviewer.model_cards.ablation_cells), or why it has none."""
    from covidviewer.model_cards import SIDECAR, ablation_cells, weights_root
    from covidviewer.models import get_spec

    rows = []
    for name in models:
        spec = get_spec(name)
        path = weights_root() / spec.weights / SIDECAR
        row: dict[str, Any] = {"model": name, "description": spec.description, "thesis": THESIS.get(name, "")}
        if not path.is_file():
            row["missing"] = f"not trained (python -m trainer fit {name} --data ../shared/data/ct_slices/labels.csv ...)"
        else:
            row.update(ablation_cells(json.loads(path.read_text(encoding="utf-8"))))
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (README and cards)."""
    from covidviewer.model_cards import ablation_labels

    labels = ablation_labels()
    lines = ["| model | " + " | ".join(labels) + " | trained | thesis |", "|---" * (len(labels) + 3) + "|"]
    for row in rows:
        if "missing" in row:
            cells = [row["missing"]] + [""] * (len(labels) - 1) + ["", row["thesis"]]
        else:
            cells = [row[label] for label in labels] + [row["trained"], row["thesis"]]
        lines.append(f"| `{row['model']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer ablation-table", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=list(ABLATIONS))
    args = parser.parse_args(argv)
    print(markdown(table_rows(args.models)))
    return 0
