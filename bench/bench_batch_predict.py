"""Batch predict (issue 18.3): a folder of real radiographs through every CXR model, the per-image loop
against batched forwards, measured in the same run. Target: loop / batched >= 2.

    python bench/bench_batch_predict.py [--count 100] [--batch-size 16] [--jobs 2] [--rounds 5] [--threads 2]

Films: the first ``--count`` adult films of /work/shared/data/cxr_adult (read in place, never copied;
the bench says so and stops when the folder is absent). Models: every registered CXR classifier with
the shipped weights (resources/weights); a withdrawn one is reported unavailable by both paths alike.
Both sides run ``predict``'s own loop (decode, gate, lung U-Net, preprocessing, forwards, calibration,
JSON written to a temporary folder) with a fresh Predictor on one shared model store, so model
loading is not timed. The films are split into ``--rounds`` groups and each group runs both ways in
alternating order, so load from other users of a shared machine falls on both alike. Also times
decoding alone with ``--jobs`` threads and processes against one at a time.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FILMS = Path("/work/shared/data/cxr_adult/images")


def predict_time(store, films: list[Path], models: list[str], batch_size: int, jobs: int, out: Path) -> float:  # type: ignore[no-untyped-def]
    """Seconds for ``predict``'s loop over ``films`` (fresh Predictor and result cache, shared models)."""
    from covidviewer.commands.predict import add_arguments, predict_all
    from covidviewer.commands.predict_output import OutputFolder
    from covidviewer.inference import Predictor, RunOptions

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([*map(str, films), "--out", str(out), "--device", "cpu", "--quiet",
                              "--batch-size", str(batch_size), "--jobs", str(jobs)])
    out.mkdir(parents=True)
    predictor = Predictor(device="cpu", store=store)
    start = time.perf_counter()
    predict_all(predictor, models, RunOptions(), args, OutputFolder(out))
    return time.perf_counter() - start


def decode_times(films: list[Path], jobs: int) -> dict[str, float]:
    from covidviewer.io import load_path

    times = {}
    load_path(films[0])  # first-use imports not timed
    start = time.perf_counter()
    for film in films:
        load_path(film)
    times["one at a time"] = time.perf_counter() - start
    for name, pool_class in (("threads", ThreadPoolExecutor), ("processes", ProcessPoolExecutor)):
        with pool_class(max_workers=jobs) as pool:
            list(pool.map(load_path, films[:jobs]))  # start-up (process spawn, imports) not timed
            start = time.perf_counter()
            list(pool.map(load_path, films))
            times[f"{jobs} {name}"] = time.perf_counter() - start
    return times


def largest_difference(one: Path, batched: Path) -> tuple[float, int]:
    """(largest probability difference over every model and stage, number of differing labels)."""
    worst, labels = 0.0, 0
    for doc_path in one.glob("*.json"):
        a, b = json.loads(doc_path.read_text()), json.loads((batched / doc_path.name).read_text())
        pairs = list(zip(a["models"], b["models"]))
        pairs += [(sa, sb) for ma, mb in zip(a["models"], b["models"]) for sa, sb in zip(ma.get("stages", []), mb.get("stages", []))]
        for ma, mb in pairs:
            labels += ma.get("label") != mb.get("label") or ma.get("decision") != mb.get("decision")
            for key, value in ma.get("probabilities", {}).items():
                worst = max(worst, abs(value - mb["probabilities"][key]))
    return worst, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    films = sorted(FILMS.glob("*/*.jpg"))[: args.count + 1]
    if len(films) < 2:
        print(f"no films in {FILMS} (the shared data folder is not on this machine); nothing measured")
        return 0
    import os

    import torch

    from covidviewer.inference import Predictor
    from covidviewer.inference.store import ModelStore

    torch.set_num_threads(args.threads)
    warm, films = films[0], films[1:]
    store = ModelStore()
    models = [n for n in Predictor(device="cpu", store=store).classifier_names() if store.spec(n).modality == "CXR"]
    print(f"{len(films)} films from {FILMS}, models {', '.join(models)}; {args.threads} torch threads, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        predict_time(store, [warm], models, 1, 1, root / "warm")  # loads every model once
        loop = batched = 0.0
        size = -(-len(films) // max(1, args.rounds))
        for r, first in enumerate(range(0, len(films), size)):
            group = films[first:first + size]
            order = [("loop", 1, 1), ("batched", args.batch_size, args.jobs)]
            for name, batch_size, jobs in order if r % 2 == 0 else order[::-1]:
                seconds = predict_time(store, group, models, batch_size, jobs, root / name / str(r))
                loop, batched = (loop + seconds, batched) if name == "loop" else (loop, batched + seconds)
            print(f"  round {r + 1}: {len(group)} films, loop {loop:.1f} s, batched {batched:.1f} s so far", flush=True)
        worst, labels = 0.0, 0
        for r in range(len(list(range(0, len(films), size)))):
            w, n = largest_difference(root / "loop" / str(r), root / "batched" / str(r))
            worst, labels = max(worst, w), labels + n
    print(f"per-image loop: {loop:.1f} s ({loop / len(films):.2f} s/film); batched (batch {args.batch_size}, "
          f"--jobs {args.jobs}): {batched:.1f} s ({batched / len(films):.2f} s/film)")
    print(f"ratio loop / batched: {loop / batched:.2f}x (target >= 2); largest probability difference {worst:.1e}, "
          f"{labels} differing labels; load average now {os.getloadavg()[0]:.1f}")
    decode = decode_times(films, args.jobs)
    print(f"decoding the {len(films)} films alone: " + ", ".join(f"{k} {v:.2f} s" for k, v in decode.items()))
    from covidviewer.io import sample_paths

    decode = decode_times([sample_paths()["chest_cr"]] * 12, args.jobs)
    print("decoding RG1_UNCI (1955 x 1841 CR) 12 times: " + ", ".join(f"{k} {v:.2f} s" for k, v in decode.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
