"""LIME a reader will wait for (issue 18): the default run (superpixels inside the lungs, sized for the
model's input, early stop) against 1000 samples, on the shipped DPN-SENet, in one run.

    python bench/bench_lime.py [--model dpn92_se] [--threads 2] [--max-samples 1000] [--seed 0]
                               [--films rg1|five] [--segments N] [--second-seed] [--paired] [--window N]

Measured in the same process:
* forward throughput of one LIME batch at the model's input size: the old path (``torch.no_grad``,
  contiguous tensors) against the new one (``inference_mode``, channels-last);
* per film, the default LIME as the viewer runs it (lung U-Net, preprocessing and the explanation; the
  model already loaded): wall and process CPU seconds and the samples it used;
* the same settings without the early stop (1000 samples, the paper's count), and the Kendall tau of
  the top-10 superpixel weights (the 1000-sample run's top 10) between the two (same seed: the default's
  samples are the first of the 1000's);
* with ``--second-seed``, the 1000-sample run again with seed + 1: how steady 1000 samples are
  themselves (the ceiling for any shorter run), and the default against it.
Films: ``rg1`` = the built-in RG1_UNCI CR (the target's film); ``five`` adds an RSNA adult normal, an NIH
adult pneumonia, an ieee8023 COVID-19 film and a Kermany child from ../shared/data (read in place; skipped
when absent). ``--segments 64`` measures the count used before session 19.
Target: default within 20 s on 2 idle cores on RG1_UNCI, tau >= 0.8. Needs the installed weights (the
model and lung_unet). On a shared machine the seconds move with the load; the ratios move less.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_S = 20.0
TARGET_TAU = 0.8
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: (name, folder, source contains, label): the first such row of the folder's labels.csv
OTHER_FILMS = (("rsna_normal", "cxr_adult", "RSNA", "normal"), ("nih_pneumonia", "cxr_adult", "NIH", "pneumonia"),
               ("ieee8023_covid", "cxr", "ieee8023", "covid"), ("kermany_child", "cxr", "Kermany", None))


def films(which: str) -> dict[str, Path]:
    """Film name -> path: RG1_UNCI, and with ``five`` the first matching row of each OTHER_FILMS entry."""
    from covidviewer.io.samples import sample_paths

    found = {"RG1_UNCI": Path(sample_paths()["chest_cr"])}
    if which == "rg1":
        return found
    for name, folder, source, label in OTHER_FILMS:
        table = DATA / folder / "labels.csv"
        if not table.is_file():
            print(f"  {name}: skipped ({table} absent)")
            continue
        for row in csv.DictReader(table.open()):
            if source in row["source"] and label in (None, row["label"]):
                found[name] = DATA / folder / row["path"]
                break
    return found


def superpixel_weights(values, segments):  # type: ignore[no-untyped-def]
    """The per-superpixel weights behind a model-grid LIME map (each superpixel is one value)."""
    import numpy as np

    weights = np.zeros(int(segments.max()) + 1)
    weights[segments.ravel()] = values.ravel()
    return weights


def top10_tau(reference, other):  # type: ignore[no-untyped-def]
    """Kendall tau of ``other`` against ``reference`` over the reference's 10 largest weights."""
    import numpy as np
    from scipy.stats import kendalltau

    top = np.argsort(-reference)[:10]
    return float(kendalltau(reference[top], other[top]).statistic)


def forward_rate(model, x, fast: bool, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Images per second of one batch through ``model`` (old path or new path)."""
    import torch

    from covidviewer.models.memory_format import channels_last

    def once() -> float:
        if fast:
            start = time.perf_counter()
            with channels_last(model), torch.inference_mode():
                model(x.contiguous(memory_format=torch.channels_last))
            return time.perf_counter() - start
        # the old path: the store's weights (channels-last on the CPU) in the default layout for this pass, untimed
        kept = [(p, p.data) for p in model.parameters()]
        for p, data in kept:
            p.data = data.contiguous()
        start = time.perf_counter()
        with torch.no_grad():
            model(x)
        seconds = time.perf_counter() - start
        for p, data in kept:
            p.data = data
        return seconds

    once()
    return len(x) / min(once() for _ in range(repeats))


def main() -> int:
    from covidviewer.explain.lime_explainer import LimeSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dpn92_se")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="LIME's seed for the default and the fixed run")
    parser.add_argument("--films", choices=("rg1", "five"), default="rg1")
    parser.add_argument("--segments", type=int, default=LimeSettings.segments, help="superpixels requested")
    parser.add_argument("--second-seed", action="store_true", help="also run the fixed samples with seed + 1")
    parser.add_argument("--paired", action="store_true",
                        help="also the default with the other sampling (lime's own draw where the default pairs its "
                             "samples), against the same fixed run")
    parser.add_argument("--window", type=int, default=0,
                        help="also the default with this early-stop window (min_samples = stable_for = N), against "
                             "the same fixed run")
    args = parser.parse_args()

    import torch

    from covidviewer.explain.base import ClassTarget
    from covidviewer.explain.lime_explainer import LIMEExplainer, segment_superpixels
    from covidviewer.inference import Predictor
    from covidviewer.inference.inputs import prepare_model_input
    from covidviewer.io.load import load_path

    torch.set_num_threads(args.threads)
    paths = films(args.films)
    predictor = Predictor(device="cpu")
    t0 = time.perf_counter()
    predictor.analyse(load_path(paths["RG1_UNCI"]), args.model)  # loads the model and the lung U-Net
    print(f"{args.model}, {args.threads} threads; model + lung U-Net loaded and a first predict in "
          f"{time.perf_counter() - t0:.1f} s")
    loaded = predictor.store.get(args.model, torch.device("cpu"))
    model, spec = loaded.model, loaded.spec
    defaults = LimeSettings(samples=args.max_samples, segments=args.segments, restrict_to_lungs=True, seed=args.seed)

    def lime_weights(volume, settings: LimeSettings):  # type: ignore[no-untyped-def]
        """The viewer's LIME on this film: lung mask, preprocessing, explanation (model already loaded)."""
        start, cpu = time.perf_counter(), time.process_time()
        predictor._lung_masks.clear()
        model_input, _ = prepare_model_input(volume, spec, predictor.lung_mask(volume))
        explainer = LIMEExplainer(model, spec, settings=settings)
        grid_map = explainer._model_grid_map(model_input, ClassTarget(None, spec.binary_logit), None, None)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        unit = model_input.unit_image()
        segments = segment_superpixels(unit, "slic", settings.segments, model_input.lung_mask)
        return superpixel_weights(grid_map.values, segments), seconds, cpu, grid_map.details

    volume = load_path(paths["RG1_UNCI"])
    model_input, _ = prepare_model_input(volume, spec, predictor.lung_mask(volume))
    x = torch.from_numpy(model_input.tensor)[None].repeat(defaults.batch, 1, 1, 1)
    old, new = forward_rate(model, x, fast=False), forward_rate(model, x, fast=True)
    print(f"  forward, batch {defaults.batch} at {tuple(x.shape[2:])}: no_grad + contiguous {old:5.1f} img/s, "
          f"inference_mode + channels-last {new:5.1f} img/s (x{new / old:.2f})")
    # the batch the default was before session 22, in the same run: the ratio is what the default bought
    sixteen = forward_rate(model, torch.from_numpy(model_input.tensor)[None].repeat(16, 1, 1, 1), fast=True)
    print(f"  forward, batch 16 (the default before session 22), inference_mode + channels-last: {sixteen:5.1f} img/s; "
          f"batch {defaults.batch} is x{new / sixteen:.2f}")

    rows = []
    for name, path in paths.items():
        volume = load_path(path)
        quick, t_quick, c_quick, d_quick = lime_weights(volume, defaults)
        full, t_full, c_full, d_full = lime_weights(volume, replace(defaults, early_stop=False))
        tau = top10_tau(full, quick)
        line = (f"  {name}: {d_quick['superpixels']} superpixels; default {t_quick:5.1f} s wall, {c_quick:5.1f} s CPU, "
                f"{d_quick['num_samples']} samples; {d_full['num_samples']} samples {t_full:5.1f} s; "
                f"tau default vs {d_full['num_samples']}: {tau:.2f}")
        if args.paired:
            other = not defaults.paired
            flipped, t_flip, _, d_flip = lime_weights(volume, replace(defaults, paired=other))
            line += (f"; {'paired' if other else 'unpaired'}: {t_flip:5.1f} s, {d_flip['num_samples']} samples, "
                     f"tau vs {d_full['num_samples']}: {top10_tau(full, flipped):.2f}")
        if args.window:
            short = replace(defaults, min_samples=args.window, stable_for=args.window)
            windowed, t_win, _, d_win = lime_weights(volume, short)
            line += (f"; window {args.window}: {t_win:5.1f} s, {d_win['num_samples']} samples, "
                     f"tau vs {d_full['num_samples']}: {top10_tau(full, windowed):.2f}")
        seeds = float("nan")
        if args.second_seed:
            other = lime_weights(volume, replace(defaults, early_stop=False, seed=args.seed + 1))[0]
            seeds = top10_tau(full, other)
            line += f"; {d_full['num_samples']} seed {args.seed} vs seed {args.seed + 1}: {seeds:.2f}"
        print(line, flush=True)
        rows.append((name, t_quick, d_quick["num_samples"], tau, seeds))
    rg1 = rows[0]
    print(f"RG1_UNCI: default {rg1[1]:.1f} s (target < {TARGET_S:.0f} s on 2 idle cores), {rg1[2]} samples, "
          f"tau {rg1[3]:.2f} (target >= {TARGET_TAU})")
    if len(rows) > 1:
        print(f"{len(rows)} films: median {statistics.median(r[1] for r in rows):.1f} s, "
              f"{statistics.median(r[2] for r in rows):.0f} samples, tau median {statistics.median(r[3] for r in rows):.2f}, "
              f"min {min(r[3] for r in rows):.2f}" + (f"; 1000 vs 1000 (two seeds) median "
                                                      f"{statistics.median(r[4] for r in rows):.2f}" if args.second_seed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
