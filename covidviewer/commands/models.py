"""``covidviewer models [--json] [--quick]``: every registered model and whether it is trained.

Parameter counts come from models built on torch's meta device (real shapes, no memory, no
initialisation), so listing all models takes about a second. The SHA-256 of every installed
shard is checked too (about half a second for the shipped sets; ``--quick`` skips it), so a
corrupted shard shows as "invalid" here, not only when ``predict`` loads it.

Exit code: 0, or 1 when some installed weights are invalid (corrupted, incomplete, not for this model).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument("--quick", action="store_true", help="do not check the SHA-256 of installed weight shards")
    parser.add_argument("--verify", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts


def model_rows(verify: bool = True) -> list[dict[str, Any]]:
    """One dict per registered model: name, task, modality, parameters, classes, input, weights status."""
    import torch

    from covidviewer.models import create_model, get_spec, list_models
    from covidviewer.models.weights import installed_builder_kwargs, installed_weights_sha256, weights_status

    rows = []
    for name in list_models():
        spec = get_spec(name)
        status = weights_status(name, verify=verify)
        with torch.device("meta"):  # as the installed set was built (small_cnn: three starts side by side)
            model = create_model(name, **(installed_builder_kwargs(name) if status == "trained" else {}))
        rows.append(
            {
                "name": name,
                "version": spec.version,
                "task": spec.task,
                "modality": spec.modality,
                "parameters": sum(p.numel() for p in model.parameters()),
                "classes": list(spec.classes),
                "input_size": list(spec.preprocess.size),
                "channels": spec.preprocess.channels,
                "needs_lung_mask": spec.needs_lung_mask,
                "weights": status,
                "weights_sha256": installed_weights_sha256(name) if status == "trained" else None,
                "parts": dict(spec.parts) or None,
                "paper": spec.paper,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table, one model per line."""
    header = ("name", "task", "modality", "params", "input", "weights", "classes")
    lines = [
        (
            r["name"],
            r["task"],
            r["modality"],
            f"{r['parameters'] / 1e6:.2f} M",
            f"{r['channels']}x" + "x".join(str(s) for s in r["input_size"]),
            r["weights"],
            ", ".join(r["classes"]),
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *lines]:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    rows = model_rows(verify=not args.quick)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
        if any(r["weights"] != "trained" for r in rows):
            print("\nUntrained models give no predictions; train with: python -m trainer fit MODEL --data labels.csv")
    invalid = [r["name"] for r in rows if r["weights"].startswith("invalid")]
    if invalid:
        print(f"covidviewer models: invalid weights installed for {', '.join(invalid)}", file=sys.stderr)
    return 1 if invalid else 0
