"""``covidviewer predict PATH... --model NAME|all --explain METHOD --out DIR``: headless analysis.

Each input (a file, or every loadable series inside a folder: batch evaluation) gets
``DIR/<name>.json`` with ``input``, ``status`` ("ok" | "refused" | "error"), ``reason`` and per
model ``probabilities``, ``label``, ``model``, ``version``, ``weights_sha256``, timings and
warnings, plus each attention map as ``.npy`` (float32, original grid) and a ``.png`` overlay with
the research notice burned in. ``DIR/answers.csv`` holds one row per answer of every input (each model's, the
consensus, each whole-series answer: answer, p(COVID-19), OOD flag, warnings, reason), so that a folder of a
hospital's films can be counted without reading the JSONs. Nothing is written anywhere but DIR.

An input that cannot be read gets its JSON (status "error", reason) and the others go on; a
folder without any image gets one, "no image found in FOLDER (N files skipped: ...)". --out is
checked before any model runs, and a run never overwrites a file it did not create (an input
whose name is taken gets ``<name>_2.json``). The loader's warnings (missing slices, non-finite
pixels, 4-D input, ...) are copied into each JSON's ``warnings``.

``--explain default`` gives each model the map its paper shows (CAM for DARNet, Grad-CAM otherwise),
resolved by ``covidviewer.analysis`` exactly as the viewer's "Paper's map".

With ``--explain none`` the inputs go ``--batch-size`` (16) at a time: each is decoded once and
preprocessed once per model family, and every model's forwards run as one batch (a batch that fails,
e.g. out of memory, runs one input at a time instead); the results are the ones a single input gets.
``--jobs N`` decodes the next inputs in N threads meanwhile. Files and summary lines keep the order of
the inputs either way.

Exit code: 0 when every input was analysed or refused cleanly, 1 when some input could not be
read or analysed (its JSON says why), a model failed on an input, a folder held no image, or a
model's installed weights failed their checks (corrupted shard); 2 on bad arguments or an unusable --out; 130 when
interrupted (Ctrl-C: the input in progress leaves no files).
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from covidviewer.commands.console import echo, fail
from covidviewer.analysis.methods import PAPER_MAP
from covidviewer.commands.predict_output import OutputFolder, output_folder_problem, summary
from covidviewer.explain import METHODS

if TYPE_CHECKING:
    from covidviewer.inference import AnalysisResult, Predictor, RunOptions
    from covidviewer.io import LoadError, Volume
    from covidviewer.io.cancel import ProgressFn
    from covidviewer.io.study import SeriesInfo

EXPLAIN_CHOICES = ("none", PAPER_MAP, *METHODS)
BATCH_BYTES = 512 << 20  # decoded pixels held for one batch at most


class WriteFailed(Exception):
    """--out stopped taking files (disk full, removed): the run stops."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from covidviewer.explain.lime_explainer import DEFAULT_SEGMENTS

    parser.add_argument("paths", nargs="+", type=Path, help="image files and/or folders (scanned recursively)")
    parser.add_argument("--model", default="all", help="registered model name, comma-separated names, or 'all' (default)")
    parser.add_argument("--explain", default="none", choices=EXPLAIN_CHOICES, help="attention map method (default: none; 'default': each model's paper's map)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; the only place written to)")
    parser.add_argument("--device", default="auto", help="auto (CUDA -> MPS -> CPU), cuda, mps or cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="bf16 = CPU autocast for forwards: faster only on CPUs with native bf16 (AVX512-BF16, AMX); elsewhere emulated and many times slower")
    parser.add_argument("--lime-samples", type=int, default=1000,
                        help="most LIME perturbation samples (default 1000); LIME stops sooner once its top 5 superpixels hold")
    parser.add_argument("--lime-exact", action="store_true",
                        help="draw every --lime-samples sample, no early stop (the paper's fixed 1000)")
    parser.add_argument("--lime-lungs", action="store_true", help="LIME superpixels only inside the lung mask")
    parser.add_argument("--lime-segments", type=int, default=DEFAULT_SEGMENTS,
                        help=f"LIME superpixels (default {DEFAULT_SEGMENTS}: more make the map depend on the seed)")
    parser.add_argument("--seed", type=int, default=0, help="LIME random seed (default 0)")
    parser.add_argument("--slice", type=int, default=None, help="slice index for CT-slice models on a volume (default: middle)")
    parser.add_argument("--target", default=None, help="class name to explain (default: the predicted class)")
    parser.add_argument("--no-series", action="store_true",
                        help="on a CT series, CT-slice models answer for one slice only (default: also one answer for the whole series)")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="with --explain none, inputs whose forwards run as one batch per model (default 16; 1 = one at a time)")
    parser.add_argument("--jobs", type=int, default=1, help="threads decoding the next inputs while models run (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no per-input summary lines")
    parser.add_argument("--no-date-check", action="store_true",
                        help="answer COVID-19 even on images dated before December 2019 (for de-identified files whose dates were shifted without saying so)")


def _inputs(paths: list[Path], out_dir: Path, jobs: int = 1) -> Iterator[tuple[str, "Volume | LoadError"]]:
    """(display name, Volume | LoadError) for every file and every series inside folders, in the
    order given; never raises. ``jobs`` > 1 decodes up to ``2 * jobs`` inputs ahead in threads
    (the order of the results does not change)."""
    if jobs <= 1:
        for name, load in _input_loaders(paths, out_dir):
            yield name, load()
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="decode")
    ahead: deque = deque()
    try:
        for name, load in _input_loaders(paths, out_dir):
            ahead.append((name, pool.submit(load)))
            if len(ahead) > 2 * jobs:
                done_name, future = ahead.popleft()
                yield done_name, future.result()
        while ahead:
            done_name, future = ahead.popleft()
            yield done_name, future.result()
    finally:  # interrupted (Ctrl-C) or done: decodes not yet started are dropped, not waited for
        pool.shutdown(wait=False, cancel_futures=True)


def _input_loaders(paths: list[Path], out_dir: Path) -> Iterator[tuple[str, Callable[[], "Volume | LoadError"]]]:
    """(display name, a call that decodes the input into Volume | LoadError); scanning happens here,
    decoding when the call is made (so it can run in another thread)."""
    from covidviewer.io import LoadError, load_path, load_series, scan_folder
    from covidviewer.io.files import path_problem, resolved

    out_resolved = resolved(out_dir)
    for path in paths:
        problem = path_problem(path)
        if problem is not None:
            yield str(path), _known(LoadError(f"{path}: {problem}", path))
        elif path.is_dir():
            try:
                scan = scan_folder(path)
            except LoadError as exc:
                yield str(path), _known(exc)
                continue
            for bad, reason in scan.unreadable:
                yield str(bad), _known(LoadError(reason, bad))
            if not scan.series and not scan.unreadable:
                yield str(path), _known(LoadError(_nothing_found(path, scan.skipped), path))
            names = _series_names(scan.series, path)
            for series in scan.series:
                first = series.files[0] if series.files else path
                if out_resolved in resolved(Path(first)).parents:
                    continue  # our own output from an earlier run inside the scanned folder
                yield names[series.key], partial(_load_or_error, load_series, series)
        else:
            yield str(path), partial(_load_or_error, load_path, path)


def _series_names(found: list["SeriesInfo"], folder: Path) -> dict[str, str]:
    """Each series' name in the outputs: a one-file series (a CR or DX film, a PNG) is its file; a DICOM series of
    several files is ``folder#number``, with the end of its UID where two series share a number (every film of a
    folder exported from a PACS may be series 1 of its own study); a part of a split series adds its part number."""
    uids_of_number: dict[int | None, set[str]] = {}
    for s in found:
        uids_of_number.setdefault(s.number, set()).add(s.uid)
    names = {}
    for series in found:
        first = series.files[0] if series.files else folder
        if series.kind != "dicom" or len(series.files) == 1:
            name = str(first)
        elif series.number is not None and len(uids_of_number[series.number]) == 1:
            name = f"{first.parent}#{series.number}"
        else:
            name = f"{first.parent}#{'' if series.number is None else f'{series.number}-'}{series.uid[-8:]}"
        names[series.key] = name + (f"#part{series.stack + 1}" if series.stack else "")
    return names


def _known(value: "LoadError") -> Callable[[], "LoadError"]:
    return lambda: value


def _load_or_error(load: Callable[[Any], "Volume"], what: Any) -> "Volume | LoadError":
    from covidviewer.io import LoadError

    try:
        return load(what)
    except LoadError as exc:
        return exc


def _nothing_found(folder: Path, skipped: list[tuple[Path, str]]) -> str:
    if not skipped:
        return f"no image found in {folder} (the folder is empty)"
    listing = ", ".join(f"{p.name} ({why})" for p, why in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
    return f"no image found in {folder} ({len(skipped)} file(s) skipped: {listing})"


def _analyse_one(predictor: "Predictor", models: "str | list[str]", options: "RunOptions", name: str,
                 loaded: "Volume | LoadError", slice_index: int | None, series: bool = False,
                 progress: "ProgressFn | None" = None) -> "AnalysisResult":
    """The one place an input's failure becomes its result: a load error, or anything the analysis
    raised, is this input's "error" and the batch goes on. ``series``: CT-slice models also give one
    answer for a whole CT series (every lung slice scored)."""
    from covidviewer.analysis.run import analyse_input
    from covidviewer.inference import AnalysisResult

    if isinstance(loaded, Exception):
        return AnalysisResult(input=name, status="error", reason=str(loaded))
    try:
        analysis = analyse_input(predictor, loaded, models, options, source=name, slice_index=slice_index, progress=progress)
    except Exception as exc:  # a bug, not bad input: say so for this input, keep going
        return AnalysisResult(input=name, status="error", reason=f"analysis failed ({type(exc).__name__}: {exc})")
    if series:
        from covidviewer.inference.series_scan import scan_all_series

        try:
            analysis.series = scan_all_series(predictor, loaded, models, progress, date_check=options.date_check)
        except Exception as exc:  # as above: this input's error, the batch goes on
            analysis.warnings.append(f"whole-series answer failed ({type(exc).__name__}: {exc})")
    return analysis


def run(args: argparse.Namespace) -> int:
    from covidviewer.explain import LimeSettings
    from covidviewer.inference import ALL, Predictor, RunOptions

    try:  # LimeSettings holds the rules (and says which): --lime-samples and --lime-segments at least 2
        lime = LimeSettings(samples=args.lime_samples, segments=args.lime_segments, restrict_to_lungs=args.lime_lungs,
                            early_stop=not args.lime_exact, seed=args.seed)
    except ValueError as exc:
        fail("predict", f"--lime-samples / --lime-segments: {exc}")
        return 2
    if args.batch_size < 1 or args.jobs < 1:
        fail("predict", "--batch-size and --jobs must be at least 1")
        return 2
    try:
        predictor = Predictor(device=args.device, precision=args.precision)
    except ValueError as exc:
        fail("predict", str(exc))
        return 2
    models = ALL if args.model == ALL else [m.strip() for m in args.model.split(",") if m.strip()]
    try:
        target_index = _target_index(predictor, models, args.target)
    except ValueError as exc:
        fail("predict", str(exc))
        return 2
    problem = output_folder_problem(args.out)  # before any model is loaded or run
    if problem is not None:
        fail("predict", problem)
        return 2
    options = RunOptions(
        method=args.explain,
        target_index=target_index,
        lime=lime,
        date_check=not args.no_date_check,
    )
    out = OutputFolder(args.out)
    try:
        failures, unavailable = predict_all(predictor, models, options, args, out)
    except WriteFailed as failed:
        exc = failed.__cause__ if isinstance(failed.__cause__, OSError) else failed
        fail("predict", f"cannot write the results to {args.out} ({getattr(exc, 'strerror', None) or exc}); stopped")
        return 1
    broken = _broken_weights(unavailable)
    for model, status in broken.items():
        fail("predict", f"{model}: installed weights failed their check ({status}); reinstall or re-export them")
    return 1 if failures or broken else 0


def predict_all(predictor: "Predictor", models: "str | list[str]", options: "RunOptions", args: argparse.Namespace,
                out: OutputFolder) -> tuple[int, set[str]]:
    """Analyse and write every input in order -> (inputs or models that failed, unavailable models).
    With ``--explain none`` the inputs go by ``--batch-size``: their forwards run in batches first
    (``covidviewer.inference.batch``), then each input is analysed and written as one alone would be."""
    from covidviewer.inference.batch import batchable, prefetch

    failures, unavailable = 0, set()
    size = args.batch_size if batchable(options) else 1
    for chunk in _batches(_inputs(list(args.paths), args.out, args.jobs), size):
        prefetched = None
        if size > 1:
            volumes = [loaded for _, loaded in chunk if not isinstance(loaded, Exception)]
            with _progress_bar(args.quiet) as progress:
                prefetched = prefetch(predictor, volumes, models, options, slice_index=args.slice, batch_size=size,
                                      progress=progress)
        for name, loaded in chunk:
            stem = out.stem_for(name)
            with _progress_bar(args.quiet) as progress:
                analysis = _analyse_one(predictor, models, options, name, loaded, args.slice, not args.no_series, progress)
            if prefetched is not None:
                prefetched.complete(analysis)
            failures += analysis.status == "error" or any(r.status == "error" for r in analysis.models)
            unavailable |= {r.model for r in analysis.models if r.status == "unavailable"}
            try:
                out.write(analysis, None if isinstance(loaded, Exception) else loaded, stem)
            except OSError as exc:
                raise WriteFailed(str(exc)) from exc
            if not args.quiet:
                echo(summary(analysis, stem))
    return failures, unavailable


def _batches(inputs: Iterator[tuple[str, "Volume | LoadError"]], size: int,
             max_bytes: int = BATCH_BYTES) -> Iterator[list[tuple[str, "Volume | LoadError"]]]:
    """Consecutive inputs, ``size`` at a time or fewer once their pixels pass ``max_bytes`` (a folder
    of CT series must not hold 16 volumes in memory at once)."""
    chunk: list[tuple[str, "Volume | LoadError"]] = []
    held = 0
    for name, loaded in inputs:
        chunk.append((name, loaded))
        held += 0 if isinstance(loaded, Exception) else loaded.pixels.nbytes
        if len(chunk) >= size or held >= max_bytes:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


@contextmanager
def _progress_bar(quiet: bool) -> Iterator["ProgressFn | None"]:
    """A tqdm bar on stderr for one input (its rate and time left), only on a terminal: LIME,
    Score-CAM and whole series take long enough to want one; piped output stays clean."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    from covidviewer.explain.progress import tqdm_progress

    with tqdm(total=1, leave=False, file=sys.stderr, unit="step") as bar:
        yield tqdm_progress(bar)


def _broken_weights(names: set[str]) -> dict[str, str]:
    """Of the models that were unavailable, those whose installed weights are corrupted or do not fit
    (hashes checked), as opposed to simply not installed or withdrawn."""
    from covidviewer.models.weights import weights_status

    statuses = {name: weights_status(name, verify=True) for name in sorted(names)}
    return {name: status for name, status in statuses.items() if status.startswith("invalid")}


def _target_index(predictor: "Predictor", models: "str | Sequence[str]", target: str | None) -> int | None:
    """Class name -> index for a single model (a class name is ambiguous across models); ValueError."""
    if target is None:
        return None
    if not isinstance(models, list) or len(models) != 1:
        raise ValueError("--target needs exactly one --model")
    try:
        classes = list(predictor.store.spec(models[0]).classes)
    except KeyError:
        raise ValueError(f"no registered model named {models[0]!r} (see covidviewer models)") from None
    if target not in classes:
        raise ValueError(f"{models[0]} has no class {target!r}; classes: {', '.join(classes)}")
    return classes.index(target)
