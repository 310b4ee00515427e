"""CPU cost of predict + explain against the plain network, measured in the same run.

    python bench/bench_explain.py [--models dpn92_se,vgg16_ga] [--lime-model dpn92_se]
                                  [--lime-samples 1000] [--darnet] [--repeats 3] [--threads N]

For each chest X-ray model: the Predictor's path (probabilities + Grad-CAM on the ORIGINAL grid of
the real RG1_UNCI radiograph, one forward whose logits give the probabilities) against a plain
forward + backward of the same network on the same input (target ratio < 1.3). LIME: seconds for
N samples. DARNet on a 64 x 224 x 224 volume: predict + CAM (the paper's map) against a plain
forward (target < 1.2), plus Grad-CAM. Peak memory of each path is measured in a fresh subprocess
(ru_maxrss above the RSS after the model was built).

The networks are UNTRAINED (random initialisation): this measures speed only and prints no
predictions.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

CXR_DEFAULT = ("dpn92_se", "vgg16_ga")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _setup(name: str, volume_kind: str) -> tuple[Any, Any, Any]:
    """(untrained model, spec, ModelInput) for the bench input of ``name``."""
    import torch

    from covidviewer.inference.inputs import prepare_model_input
    from covidviewer.io import Volume, load_path, sample_paths
    from covidviewer.models import create_model, get_spec

    torch.manual_seed(0)
    spec = get_spec(name)
    model = create_model(name).eval()
    if volume_kind == "cxr":
        volume = load_path(sample_paths()["chest_cr"])
        lung = None
        if spec.needs_lung_mask:
            lung = np.zeros(volume.shape[1:], np.float32)  # timing only: a fixed mask, no U-Net
            lung[volume.shape[1] // 5 : -volume.shape[1] // 5, volume.shape[2] // 8 : -volume.shape[2] // 8] = 1.0
        model_input, _ = prepare_model_input(volume, spec, lung)
    else:
        rng = np.random.default_rng(0)
        pixels = rng.normal(-700, 300, size=(120, 256, 256)).astype(np.float32)
        volume = Volume(pixels, spacing=(2.5, 1.4, 1.4), modality="CT", default_window=(-600, 1500))
        model_input, _ = prepare_model_input(volume, spec)
    return model, spec, model_input


def _baseline_forward_backward(model: Any, model_input: Any) -> Callable[[], None]:
    import torch

    from covidviewer.explain.base import bind_model

    bound = bind_model(model, model_input)
    x = torch.from_numpy(model_input.tensor[None])

    def step() -> None:
        model.zero_grad(set_to_none=True)
        logits = bound(x)
        logits[0, int(logits[0].argmax())].backward()

    return step


def _baseline_forward(model: Any, model_input: Any) -> Callable[[], None]:
    from covidviewer.inference.runner import forward_logits

    return lambda: forward_logits(model, model_input)


def _predict_explain(model: Any, spec: Any, model_input: Any, method: str, **kw: Any) -> Callable[[], None]:
    from covidviewer.inference.runner import RunOptions, class_probabilities, run_network

    options = RunOptions(method=method, **kw)

    def step() -> None:
        run = run_network(model, spec, model_input, options)
        class_probabilities(run.logits, spec)
        assert method == "none" or run.explanation is not None, run.warnings

    return step


def _paths(name: str, kind: str, model: Any, spec: Any, model_input: Any, lime_samples: int) -> dict[str, Callable[[], None]]:
    from covidviewer.explain import LimeSettings

    if kind == "cxr":
        return {
            "forward+backward": _baseline_forward_backward(model, model_input),
            "forward": _baseline_forward(model, model_input),
            "predict+gradcam": _predict_explain(model, spec, model_input, "gradcam"),
            "lime": _predict_explain(model, spec, model_input, "lime", lime=LimeSettings(samples=lime_samples)),
        }
    return {
        "forward": _baseline_forward(model, model_input),
        "predict+cam": _predict_explain(model, spec, model_input, "cam"),
        "predict+gradcam": _predict_explain(model, spec, model_input, "gradcam"),
        "library-gradcam": _library_gradcam(model, spec, model_input),
    }


def _library_gradcam(model: Any, spec: Any, model_input: Any) -> Callable[[], None]:
    """grad-cam's GradCAM used as-is (full backward, cubic zoom to the input size): the reference."""
    import torch
    from pytorch_grad_cam import GradCAM

    x = torch.from_numpy(model_input.tensor[None])

    def step() -> None:
        with GradCAM(model, [model.get_submodule(spec.explain.cam_layers[0])]) as cam:
            cam(input_tensor=x, targets=None)
        model.zero_grad(set_to_none=True)

    return step


def child(args: argparse.Namespace) -> None:
    """One model in a fresh process: either timings of several paths or the peak memory of one."""
    import torch

    torch.set_num_threads(args.threads)
    import pytorch_grad_cam  # noqa: F401  import cost (seconds) is not part of any path

    model, spec, model_input = _setup(args.model, args.kind)
    paths = _paths(args.model, args.kind, model, spec, model_input, args.lime_samples)
    if args.memory:
        before = _rss_mib()
        paths[args.memory]()
        print(json.dumps({"peak_above_model_mib": _peak_mib() - before}))
        return
    timed = [p for p in args.paths.split(",") if p]
    for p in timed:
        if p != "lime":
            paths[p]()  # warm-up (allocator, lazy inits)
    times: dict[str, list[float]] = {p: [] for p in timed}
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits every path alike
        for p in timed:
            if p == "lime" and times[p]:
                continue
            t0 = time.perf_counter()
            paths[p]()
            times[p].append(time.perf_counter() - t0)
    print(json.dumps({p: statistics.median(v) for p, v in times.items()}))


def _run_child(args: argparse.Namespace, model: str, kind: str, **extra: Any) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--model", model, "--kind", kind,
           "--threads", str(args.threads), "--repeats", str(args.repeats), "--lime-samples", str(args.lime_samples)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "TQDM_DISABLE": "1"})
    if out.returncode != 0:
        raise RuntimeError(f"{model} {extra}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(CXR_DEFAULT))
    parser.add_argument("--lime-model", default=CXR_DEFAULT[0], help="CXR model for the LIME timing ('' to skip)")
    parser.add_argument("--lime-samples", type=int, default=1000)
    parser.add_argument("--darnet", action="store_true", help="also DARNet on 64 x 224 x 224")
    parser.add_argument("--library-gradcam", action="store_true",
                        help="with --darnet: also grad-cam's GradCAM used as-is (slow, several GB)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=max(1, min(os.cpu_count() or 1, 4)))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--paths", default="", help=argparse.SUPPRESS)
    parser.add_argument("--memory", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(f"CPU, {args.threads} threads, median of {args.repeats}; UNTRAINED networks (speed only)\n")
    rows: list[tuple[str, str, float, float, str, str]] = []
    jobs = [(m, "cxr", "forward+backward", "predict+gradcam", 1.3) for m in args.models.split(",") if m]
    if args.darnet:
        jobs.append(("darnet", "ct", "forward", "predict+cam", 1.2))
    for model, kind, base, path, target in jobs:
        extra_paths = (["predict+gradcam"] + (["library-gradcam"] if args.library_gradcam else [])) if kind == "ct" else ["forward"]
        with_lime = kind == "cxr" and model == args.lime_model
        timed = _run_child(args, model, kind, paths=",".join([base, path, *extra_paths] + (["lime"] if with_lime else [])))
        mem = {} if args.no_memory else {p: _run_child(args, model, kind, memory=p)["peak_above_model_mib"] for p in (base, path, *extra_paths)}
        for p in [path, *extra_paths]:
            ratio = timed[p] / timed[base]
            verdict = "ok" if ratio < target or p != path else "OVER"
            rows.append((model, f"{p} / {base}", timed[p], ratio, f"< {target} {verdict}" if p == path else "", _mem(mem, p, base)))
        if with_lime:
            rows.append((model, f"lime {args.lime_samples} samples", timed["lime"], timed["lime"] / timed[base], "", ""))
        rows.append((model, base, timed[base], 1.0, "", _mem(mem, base, base)))
    print(f"{'model':<12} {'path':<38} {'seconds':>9} {'ratio':>7}  {'target':<10} peak memory above model")
    for model, name, seconds, ratio, target, mem in rows:
        print(f"{model:<12} {name:<38} {seconds:>9.3f} {ratio:>7.2f}  {target:<10} {mem}")


def _mem(mem: dict[str, float], path: str, base: str) -> str:
    if not mem:
        return ""
    return f"{mem[path]:8.0f} MiB" + (f"  ({mem[path] / max(mem[base], 1):.2f}x)" if path != base else "")


if __name__ == "__main__":
    main()
