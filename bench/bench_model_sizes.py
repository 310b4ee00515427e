"""Size and CPU speed of every registered model at its spec's input size.

Prints, per model: parameters, fp16 weight size (MiB, what a safetensors fp16 export holds), and
the CPU forward time for batch 1 (one timed run after one warm-up run), each built as its installed weights were
trained (the card's builder kwargs: ``small_cnn``'s three starts), the registered default where none is installed.
Times are also given as a ratio to a 2048 x 2048 fp32 matmul measured in the same run, so numbers from different
machines compare. Untrained weights: this measures architecture cost only.

    .venv/bin/python bench/bench_model_sizes.py [--models darnet vgg16_ga] [--no-time] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import torch

from covidviewer.models import create_model, get_spec, list_models
from covidviewer.models.weights import installed_builder_kwargs


def fp16_mebibytes(model: torch.nn.Module) -> float:
    """State-dict size with floating tensors stored as fp16 (integer buffers as they are)."""
    total = 0
    for t in model.state_dict().values():
        total += t.numel() * (2 if t.is_floating_point() else t.element_size())
    return total / 2**20


def matmul_baseline_s() -> float:
    """Seconds for one 2048^3 fp32 matmul (17 GFLOP): the yardstick for the time ratios."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    runs = []
    for _ in range(3):  # best of three: the yardstick must not carry another process's noise
        start = time.perf_counter()
        a @ b
        runs.append(time.perf_counter() - start)
    return min(runs)


def forward_seconds(model: torch.nn.Module, shape: tuple[int, ...], n_inputs: int = 1) -> float:
    """One timed forward after a warm-up; a cascade gets one input per stage (``spec.inputs``)."""
    xs = [torch.randn(*shape) for _ in range(n_inputs)]
    with torch.inference_mode():
        model(*xs)
        start = time.perf_counter()
        model(*xs)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="subset of registered names (default: all)")
    parser.add_argument("--no-time", action="store_true", help="sizes only, skip the forward timings")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models or list_models()
    baseline = None if args.no_time else matmul_baseline_s()
    if baseline is not None:
        print(f"baseline: 2048^3 fp32 matmul {baseline * 1e3:.1f} ms on {args.threads} CPU thread(s)")
    print(f"{'model':<18}{'input (C, ...)':<20}{'params':>14}{'fp16 MiB':>10}{'fwd s':>9}{'x matmul':>10}")
    for name in names:
        spec = get_spec(name)
        pp = spec.preprocess
        shape = (1, pp.channels, *pp.size)
        try:
            model = create_model(name, **installed_builder_kwargs(name)).eval()
        except Exception as exc:  # a family still being written must not hide the others
            print(f"{name:<18}build failed: {exc}")
            continue
        params = sum(p.numel() for p in model.parameters())
        row = f"{name:<18}{str(shape[1:]):<20}{params:>14,}{fp16_mebibytes(model):>10.1f}"
        if baseline is not None:
            try:
                secs = forward_seconds(model, shape, len(spec.inputs))
                row += f"{secs:>9.2f}{secs / baseline:>10.1f}"
            except Exception as exc:
                row += f"  forward failed: {exc}"
        print(row, flush=True)
        del model
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
