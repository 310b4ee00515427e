"""Training throughput on this machine: images/s of the trainer's own training step per model.

One step = the recipe's forward (MoEx, mixup, GAIN, Dice+BCE as the recipe says) + loss + backward +
optimizer step, exactly ``trainer.engine.Engine.train_step``, on a synthetic batch already in memory
(data loading excluded). Measured in the same run for each model: fp32, and bf16 autocast on CPU;
the ratio bf16 / fp32 says what ``--amp bf16`` buys here (without native bf16 in the CPU it costs
10-30x, and ``fit`` then trains in fp32 and says so). Input size: the spec's own unless
``--size`` (one number = square, DARNet gets D x size x size with D = size / 4 rounded to 8).
``--train-only PREFIX ...`` measures instead the whole network's fp32 step against one that trains only those
modules (``train.train_only``, trainer.partial_training): what a CPU fine-tune of the last blocks buys.

    python bench/bench_training_throughput.py [--models lung_unet dresunet ...] [--size 128]
                                              [--batch 2] [--steps 3] [--threads 2] [--device cpu]
    python bench/bench_training_throughput.py --models seme_densenet169 --batch 8 \
        --train-only features.denseblock4 features.se4 features.norm5 head
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_MODELS = ["lung_unet", "dresunet", "vgg16_ga", "seme_resnet50", "small_cnn"]


def synthetic_batch(spec: Any, pp: Any, batch: int, task: str) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    shape = (batch, pp.channels, *pp.size)
    out: dict[str, Any] = {"image": torch.randn(shape, generator=g), "index": torch.arange(batch)}
    if task == "segmentation":
        out["target"] = (torch.rand((batch, 1, *pp.size), generator=g) > 0.5).float()
        out["valid"] = torch.ones((batch, 1, *pp.size))
    else:
        out["target"] = torch.arange(batch) % len(spec.classes)
        if spec.lung_mask == "forward_arg":
            out["lung_mask"] = torch.ones((batch, 1, *pp.size))
    return out


def measure(name: str, size: int | None, batch: int, steps: int, amp: str, device: str,
            train_only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Images/s of ``steps`` timed training steps (after one warm-up step); train_only: the modules that train."""
    import torch

    from covidviewer.models import get_spec
    from trainer.config import load_recipe
    from trainer.trained_spec import effective_preprocess
    from trainer.devices import DistInfo, amp_dtype
    from trainer.engine import Engine
    from trainer.partial_training import hold_frozen_in_eval, restrict_training
    from trainer.run import Run

    spec = get_spec(name)
    overrides = [f'train.amp="{amp}"', f"train.batch_size={batch}"]
    if size:
        dims = [max(8, round(size / 4 / 8) * 8), size, size] if spec.preprocess.kind == "ct_volume" else [size, size]
        overrides.append(f"size={dims}")
    recipe = load_recipe(name, overrides=overrides)
    pp = effective_preprocess(spec, recipe)

    class NoData(Run):  # the engine and task of a real run, without reading a labels.csv
        def __init__(self) -> None:
            from covidviewer.models import create_model
            from trainer.trained_spec import effective_spec, model_kwargs
            from trainer.tasks import StepModule, make_task

            self.recipe, self.spec, self.out_dir = recipe, spec, Path("/nonexistent-bench-run")
            self.train_spec = effective_spec(spec, recipe)
            self.model = create_model(name, **model_kwargs(spec, recipe))
            restrict_training(self.model, train_only)
            self.task = make_task(spec, recipe["task"], recipe["method"])
            self.step_module = StepModule(self.model, self.task)
            self.spatial_dims = 3 if pp.kind == "ct_volume" else 2

        def dataset(self, split: str, values: Any = None, train: bool = False) -> Any:
            return None

    engine = Engine(NoData(), DistInfo(device=torch.device(device)), progress=False)
    engine.dtype = amp_dtype(amp, torch.device(device))  # measure bf16 even where fit would fall back to fp32
    engine.stage_values = recipe.values
    params = [p for p in engine.step_module.parameters() if p.requires_grad]
    from trainer.optim import build_optimizer

    engine.optimizer = build_optimizer(params, recipe["train"])
    engine.step_module.train()
    hold_frozen_in_eval(engine.step_module.model, train_only)
    data = synthetic_batch(spec, pp, batch, recipe["task"])
    data = {k: v.to(device) for k, v in data.items()}
    engine.train_step(data)  # warm-up (allocations, oneDNN kernel selection)
    start = time.perf_counter()
    for _ in range(steps):
        engine.train_step(data, recipe["train"]["grad_clip"])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"size": "x".join(str(s) for s in pp.size), "images_per_s": batch * steps / seconds, "s_per_step": seconds / steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--size", type=int, help="square input side (default: each spec's own size)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fp32-only", action="store_true", help="skip the autocast column (emulated bf16 takes minutes per step)")
    parser.add_argument("--train-only", nargs="+", metavar="PREFIX", help="fp32: the whole network against one training only these modules")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    amp_fast = "bf16" if args.device == "cpu" else "auto"
    from trainer.devices import cpu_has_native_bf16

    print(f"training step throughput, batch {args.batch}, {args.steps} timed steps, {args.threads} threads, device {args.device}")
    if args.device == "cpu":
        print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()}")
    if args.train_only:
        return _partial_table(args)
    print(f"{'model':<18} {'input':>11} {'fp32 img/s':>11} {amp_fast + ' img/s':>11} {'ratio':>6} {'fp32 s/step':>12}")
    for name in args.models:
        fp32 = measure(name, args.size, args.batch, args.steps, "off", args.device)
        if args.fp32_only:
            print(f"{name:<18} {fp32['size']:>11} {fp32['images_per_s']:>11.2f} {'-':>11} {'-':>6} {fp32['s_per_step']:>12.2f}", flush=True)
            continue
        fast = measure(name, args.size, args.batch, args.steps, amp_fast, args.device)
        ratio = fast["images_per_s"] / fp32["images_per_s"]
        print(f"{name:<18} {fp32['size']:>11} {fp32['images_per_s']:>11.2f} {fast['images_per_s']:>11.2f} {ratio:>5.2f}x {fp32['s_per_step']:>12.2f}", flush=True)
    return 0


def _partial_table(args: argparse.Namespace) -> int:
    """fp32 images/s of the whole network's step and of one training only ``--train-only``, and their ratio."""
    only = tuple(args.train_only)
    print(f"training only: {', '.join(only)}")
    print(f"{'model':<18} {'input':>11} {'whole img/s':>12} {'only img/s':>11} {'ratio':>6}")
    for name in args.models:
        whole = measure(name, args.size, args.batch, args.steps, "off", args.device)
        part = measure(name, args.size, args.batch, args.steps, "off", args.device, only)
        ratio = part["images_per_s"] / whole["images_per_s"]
        print(f"{name:<18} {whole['size']:>11} {whole['images_per_s']:>12.2f} {part['images_per_s']:>11.2f} {ratio:>5.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
