"""LIME a reader will wait for (issue 18): the default run (superpixels inside the lungs, early stop)
against the paper's 1000 samples, on the shipped DPN-SENet and the real RG1_UNCI radiograph, in one run.

    python bench/bench_lime.py [--model dpn92_se] [--threads 2] [--max-samples 1000] [--seed 0] [--second-seed]

Measured in the same process:
* forward throughput of one LIME batch (32 perturbed images at the model's input size): the old path
  (``torch.no_grad``, contiguous tensors) against the new one (``inference_mode``, channels-last);
* the default LIME (lung-mask superpixels + the restored background, early stop once the same top 5
  have led for 200 samples) as the viewer runs it (lung U-Net, preprocessing and the explanation;
  the model already loaded), wall and process CPU seconds, and the samples it used;
* the same explainer without the early stop (the paper's 1000 samples);
* stability: Kendall tau of the top-10 superpixel weights (the 1000-sample run's top 10) between the
  default run and the 1000-sample run (same seed: the default's samples are the first of those); with
  ``--second-seed`` also between two 1000-sample runs with different seeds (how steady 1000 samples
  are themselves: the ceiling for any shorter run).
Target: default within 20 s on 2 idle cores, tau >= 0.8. Needs the installed weights (the model and
lung_unet). On a shared machine the seconds move with the load; the ratios move less.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_S = 20.0
TARGET_TAU = 0.8


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

    from covidviewer.explain.lime_explainer import channels_last

    def once() -> float:
        start = time.perf_counter()
        if fast:
            with channels_last(model), torch.inference_mode():
                model(x.contiguous(memory_format=torch.channels_last))
        else:
            with torch.no_grad():
                model(x)
        return time.perf_counter() - start

    once()
    return len(x) / min(once() for _ in range(repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="dpn92_se")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="LIME's seed for the default and the fixed run")
    parser.add_argument("--second-seed", action="store_true", help="also run the fixed samples with seed + 1")
    args = parser.parse_args()

    import torch

    from covidviewer.explain.base import ClassTarget
    from covidviewer.explain.lime_explainer import LIMEExplainer, LimeSettings, segment_superpixels
    from covidviewer.inference import Predictor
    from covidviewer.inference.inputs import prepare_model_input
    from covidviewer.io.load import load_path
    from covidviewer.io.samples import sample_paths

    torch.set_num_threads(args.threads)
    volume = load_path(sample_paths()["chest_cr"])
    predictor = Predictor(device="cpu")
    t0 = time.perf_counter()
    predictor.analyse(volume, args.model)  # loads the model and the lung U-Net: not part of LIME's wait
    print(f"{args.model} on RG1_UNCI, {args.threads} threads; model + lung U-Net loaded and a first predict "
          f"in {time.perf_counter() - t0:.1f} s")

    loaded = predictor.store.get(args.model, torch.device("cpu"))
    model, spec = loaded.model, loaded.spec
    model_input, _ = prepare_model_input(volume, spec, predictor.lung_mask(volume))
    x = torch.from_numpy(model_input.tensor)[None].repeat(32, 1, 1, 1)
    old, new = forward_rate(model, x, fast=False), forward_rate(model, x, fast=True)
    print(f"  forward, batch 32 at {tuple(x.shape[2:])}: no_grad + contiguous {old:5.1f} img/s, "
          f"inference_mode + channels-last {new:5.1f} img/s (x{new / old:.2f})")

    def lime_weights(early_stop: bool, seed: int = args.seed):  # type: ignore[no-untyped-def]
        """The viewer's LIME on this film: lung mask, preprocessing, explanation (model already loaded)."""
        start, cpu = time.perf_counter(), time.process_time()
        predictor._lung_masks.clear()
        model_input, _ = prepare_model_input(volume, spec, predictor.lung_mask(volume))
        settings = LimeSettings(samples=args.max_samples, restrict_to_lungs=True, early_stop=early_stop, seed=seed)
        explainer = LIMEExplainer(model, spec, settings=settings)
        grid_map = explainer._model_grid_map(model_input, ClassTarget(None, spec.binary_logit), None, None)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        segments = segment_superpixels(model_input.unit_image(), "slic", settings.segments, model_input.lung_mask)
        return superpixel_weights(grid_map.values, segments), seconds, cpu, grid_map.details

    quick, t_quick, c_quick, d_quick = lime_weights(True)
    print(f"  default LIME (lung U-Net + preprocessing + LIME): {t_quick:5.1f} s wall, {c_quick:5.1f} s CPU, "
          f"{d_quick['num_samples']} of at most {args.max_samples} samples, {d_quick['superpixels']} superpixels "
          f"(target < {TARGET_S:.0f} s on 2 idle cores)")
    full, t_full, c_full, d_full = lime_weights(False)
    n_full = d_full["num_samples"]
    print(f"  without the early stop: {t_full:5.1f} s wall, {c_full:5.1f} s CPU, {n_full} samples; "
          f"default / fixed: {t_quick / t_full:.2f} wall, {c_quick / c_full:.2f} CPU")
    tau = top10_tau(full, quick)
    print(f"  Kendall tau, top-10 weights, default vs {n_full} samples: {tau:.3f} (target >= {TARGET_TAU})")
    print(f"  top 5 superpixels: default {list(map(int, quick.argsort()[::-1][:5]))}, "
          f"{n_full} samples {list(map(int, full.argsort()[::-1][:5]))}")
    if args.second_seed:
        other = lime_weights(False, seed=args.seed + 1)[0]
        print(f"  Kendall tau, top-10 weights, {n_full} samples seed {args.seed} vs seed {args.seed + 1}: "
              f"{top10_tau(full, other):.3f} (the noise of {n_full} samples itself; default seed {args.seed} vs "
              f"{n_full} samples seed {args.seed + 1}: {top10_tau(other, quick):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
