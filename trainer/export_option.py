"""``--export [--dest DIR] [--other-kind CSV]`` for commands that write a run from installed weights
(``refit-head``, ``respec``): the run is exported at once, stored as the set it came from."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--export", action="store_true", help="export the run into the app's weights folder at once")
    parser.add_argument("--dest", type=Path, help="with --export: weights folder (default: the app's, replacing the installed set)")
    parser.add_argument("--other-kind", type=Path, help="with --export: labels.csv of images of the other kind (OOD flag rate)")


def stored_as(folder: Path) -> str:
    """How a run made from ``folder`` is stored: as the set it came from (an int8 set stays int8), fp16 for a run."""
    sidecar = Path(folder) / "model.json"
    return "int8" if sidecar.is_file() and json.loads(sidecar.read_text()).get("dtype") == "int8" else "float16"


def finish_written_run(run: Path, args: argparse.Namespace) -> None:
    """Say where the run is; with ``--export``, export it (``args``: weights, data, export, dest, other_kind)."""
    print(f"run folder {run} (python -m trainer export {run} ...)")
    if args.export:
        from trainer.export import export_run

        export_run(run, args.dest, args.data, other_kind_csv=args.other_kind, store=stored_as(args.weights))
