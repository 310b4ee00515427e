"""CPU forward time of every installed 2D network in channels-last memory, as a ratio to the same network, weights
and input in the default (contiguous) layout, measured in the same run (``covidviewer.models.memory_format``).

Per model: the store's loaded network at its trained input size, batch 1 (one analysis) and batch 8 (a LIME batch),
the median of ``--runs`` timed forwards after one warm-up, each layout in turn. A ratio under 1 is faster. The
largest difference of the outputs is printed too (float rounding only). ``--series``: also DResUNet's whole-series
scan of the built-in 64-slice chest CT as the app runs it (lung masks, preprocessing, batches of 16), once in each
layout, twice over.

    .venv/bin/python bench/bench_channels_last.py [--models dpn92_se seme_resnet50] [--runs 15] [--threads 2] [--series]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from covidviewer.models import list_models
from covidviewer.models.memory_format import for_device, is_2d_on_cpu
from covidviewer.models.weights import WeightsError, load_trained_model


def median_seconds(model: torch.nn.Module, x: torch.Tensor, runs: int) -> tuple[float, torch.Tensor]:
    with torch.inference_mode():
        out = model(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times), out if isinstance(out, torch.Tensor) else out[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--series", action="store_true", help="also time DResUNet's whole-series scan in both layouts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    print(f"{'model':<18} {'input':>9} {'batch':>5} {'contiguous ms':>14} {'channels-last ms':>17} {'ratio':>6} {'max |diff|':>10}")
    for name in args.models or list_models():
        try:
            model = load_trained_model(name)
        except WeightsError:  # not installed (DARNet ships untrained)
            continue
        spec = model.spec
        if spec is None or spec.parts or not is_2d_on_cpu(model, cpu):
            continue  # a composite's parts are benchmarked on their own; 3D networks keep their layout
        size = tuple(spec.preprocess.size[-2:])
        for batch in (1, 8):
            x = torch.randn(batch, spec.preprocess.channels, *size)
            plain, out_plain = median_seconds(model, x, args.runs)
            fast, out_fast = median_seconds(for_device(model, cpu), x, args.runs)
            model = model.to(memory_format=torch.contiguous_format)
            diff = float((out_plain - out_fast).abs().max())
            print(f"{name:<18} {size[0]:>4}x{size[1]:<4} {batch:>5} {plain * 1000:>14.1f} {fast * 1000:>17.1f} "
                  f"{fast / plain:>6.2f} {diff:>10.1e}")
    if args.series:
        series_scan_seconds()


def series_scan_seconds(model: str = "dresunet") -> None:
    """The app's whole-series scan of the built-in chest CT, in the default layout and in channels-last."""
    import covidviewer.models.memory_format as memory_format
    from covidviewer.inference import Predictor
    from covidviewer.inference.series_scan import scan_series
    from covidviewer.io import load_path, sample_paths

    volume = load_path(sample_paths()["chest_ct_series"])
    channels_last = memory_format.for_device
    for _ in range(2):
        seconds = {}
        for layout in ("contiguous", "channels-last"):
            memory_format.for_device = channels_last if layout == "channels-last" else (lambda net, device: net)
            predictor = Predictor(device="cpu")
            predictor.store.get(model, torch.device("cpu"))  # loaded, not timed
            start = time.perf_counter()
            scan_series(predictor, volume, model)
            seconds[layout] = time.perf_counter() - start
        memory_format.for_device = channels_last
        print(f"{model} whole-series scan ({volume.shape[0]} slices): contiguous {seconds['contiguous']:.1f} s, "
              f"channels-last {seconds['channels-last']:.1f} s, ratio {seconds['channels-last'] / seconds['contiguous']:.2f}")


if __name__ == "__main__":
    main()
