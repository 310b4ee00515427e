"""``covidviewer predict PATH... --model NAME|all --explain METHOD --out DIR``: headless analysis.

Each input (a file, or every loadable series inside a folder: batch evaluation) gets
``DIR/<name>.json`` with ``input``, ``status`` ("ok" | "refused" | "error"), ``reason`` and per
model ``probabilities``, ``label``, ``model``, ``version``, ``weights_sha256``, timings and
warnings, plus each attention map as ``.npy`` (float32, original grid) and a ``.png`` overlay with
the research notice burned in. Nothing is written anywhere but DIR.

Exit code: 0 when every input was analysed or refused cleanly, 1 when some input could not be
read or analysed (its JSON says why), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from covidviewer.explain import METHODS

if TYPE_CHECKING:
    from covidviewer.inference import AnalysisResult, Predictor
    from covidviewer.io import LoadError, Volume

EXPLAIN_CHOICES = ("none", *METHODS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, help="image files and/or folders (scanned recursively)")
    parser.add_argument("--model", default="all", help="registered model name, comma-separated names, or 'all' (default)")
    parser.add_argument("--explain", default="none", choices=EXPLAIN_CHOICES, help="attention map method (default: none)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; the only place written to)")
    parser.add_argument("--device", default="auto", help="auto (CUDA -> MPS -> CPU), cuda, mps or cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="bf16 = CPU autocast for forwards")
    parser.add_argument("--lime-samples", type=int, default=1000, help="LIME perturbation samples (default 1000)")
    parser.add_argument("--lime-lungs", action="store_true", help="LIME superpixels only inside the lung mask")
    parser.add_argument("--seed", type=int, default=0, help="LIME random seed (default 0)")
    parser.add_argument("--slice", type=int, default=None, help="slice index for CT-slice models on a volume (default: middle)")
    parser.add_argument("--target", default=None, help="class name to explain (default: the predicted class)")
    parser.add_argument("--quiet", action="store_true", help="no per-input summary lines")


def _inputs(paths: list[Path], out_dir: Path) -> Iterator[tuple[str, "Volume | LoadError"]]:
    """(display name, Volume | LoadError) for every file and every series inside folders."""
    from covidviewer.io import LoadError, load_path, load_series, scan_folder

    out_resolved = out_dir.resolve()
    for path in paths:
        if not path.exists():
            yield str(path), LoadError(f"{path}: no such file or folder", path)
        elif path.is_dir():
            scan = scan_folder(path)
            for bad, reason in scan.unreadable:
                yield str(bad), LoadError(reason, bad)
            for series in scan.series:
                first = series.files[0] if series.files else path
                if out_resolved in Path(first).resolve().parents:
                    continue  # our own output from an earlier run inside the scanned folder
                name = str(first) if series.kind != "dicom" else f"{first.parent}#{series.number or series.uid[-8:]}"
                try:
                    yield name, load_series(series)
                except LoadError as exc:
                    yield name, exc
        else:
            try:
                yield str(path), load_path(path)
            except LoadError as exc:
                yield str(path), exc


def _stem(name: str, used: set[str]) -> str:
    from covidviewer.inference.export import safe_stem
    from covidviewer.io.itk_volume import file_stem

    base = safe_stem(file_stem(Path(name.split("#")[0])) + (f"_{name.split('#')[1]}" if "#" in name else ""))
    stem, i = base, 1
    while stem in used:
        i += 1
        stem = f"{base}_{i}"
    used.add(stem)
    return stem


def run(args: argparse.Namespace) -> int:
    from covidviewer.inference import ALL, AnalysisResult, Predictor, RunOptions
    from covidviewer.inference.export import write_analysis

    if args.lime_samples < 2:
        print("covidviewer predict: --lime-samples must be at least 2", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(device=args.device, precision=args.precision)
    except ValueError as exc:
        print(f"covidviewer predict: {exc}", file=sys.stderr)
        return 2
    models = ALL if args.model == ALL else [m.strip() for m in args.model.split(",") if m.strip()]
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    failures = 0
    for name, loaded in _inputs(list(args.paths), out_dir):
        stem = _stem(name, used)
        if isinstance(loaded, Exception):
            analysis, volume = AnalysisResult(input=name, status="error", reason=str(loaded)), None
        else:
            volume = loaded
            options = RunOptions(
                method=args.explain,
                target_index=_target_index(predictor, models, args.target),
                lime_samples=args.lime_samples,
                lime_restrict_to_lungs=args.lime_lungs,
                lime_seed=args.seed,
            )
            analysis = predictor.analyse(volume, models, options, source=name, slice_index=args.slice)
        failures += analysis.status == "error"
        write_analysis(analysis, volume, out_dir, stem)
        if not args.quiet:
            print(_summary(analysis, stem))
    return 1 if failures else 0


def _target_index(predictor: "Predictor", models: "str | Sequence[str]", target: str | None) -> int | None:
    """Class name -> index for a single model (a class name is ambiguous across models)."""
    if target is None:
        return None
    if not isinstance(models, list) or len(models) != 1:
        raise SystemExit("covidviewer predict: --target needs exactly one --model")
    classes = list(predictor.store.spec(models[0]).classes)
    if target not in classes:
        raise SystemExit(f"covidviewer predict: {models[0]} has no class {target!r}; classes: {', '.join(classes)}")
    return classes.index(target)


def _summary(analysis: "AnalysisResult", stem: str) -> str:
    from covidviewer.inference.calibrated import UNLIKE_TRAINING

    parts = [f"{stem}: {analysis.status}"]
    if analysis.reason:
        parts.append(analysis.reason)
    if analysis.image_kind is not None:
        parts.append(f"image kind: {analysis.image_kind.kind} ({analysis.image_kind.score:.2f})")
    for r in analysis.models:
        if r.status == "ok":
            parts.append(f"{r.model}={r.label} ({r.probabilities[r.label]:.2f}{', calibrated' if r.calibrated else ''})")
            if r.ood_flag:
                parts.append(f"{r.model}: {UNLIKE_TRAINING} (OOD score {r.ood_score:.1f})")
        elif r.status == "unavailable":
            parts.append(f"{r.model} unavailable: {r.reason}")
    return " | ".join(parts)
