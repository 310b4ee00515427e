"""A training run folder: data, network and task for one recipe, and what it writes.

``runs/NAME/`` holds ``recipe.json`` (resolved recipe), ``data.json`` (counts per split and class,
skipped rows), ``split.csv``, ``bad_rows.csv``, ``log.csv`` (one row per epoch; TensorBoard events
too when tensorboard is installed), ``last.pt`` / ``best.pt`` checkpoints, and after training
``metrics.json``, ``predictions.csv``, ``roc.png`` / ``confusion.png`` / ``curves.png`` and
``summary.json`` (everything ``trainer export`` needs for the model card).
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from covidviewer.models import create_model, get_spec
from trainer.checkpoint import BEST, LAST, load_checkpoint
from trainer.config import Recipe, load_recipe, recipe_from_dict
from trainer.data.build import CsvPaths, DataBundle, csv_list, load_data, make_dataset, write_split_csv
from trainer.trained_spec import effective_spec, model_kwargs
from trainer.data.labels import write_bad_rows
from trainer.devices import setup_distributed
from trainer.engine import Engine, TrainingInterrupted
from trainer.evaluation import evaluate_and_report, validation_loss
from trainer.metrics import N_BOOTSTRAP, headline
from trainer.partial_training import restrict_training, trained_prefixes
from trainer.rebuild_command import fine_tune_command
from trainer.tasks import StepModule, make_task
from trainer.trained import load_trained

RECIPE_FILE = "recipe.json"


def git_commit(repo: Path | None = None) -> str:
    """HEAD of the source tree (with "+dirty" when it has local changes), or "unknown".

    ``TRAINER_GIT_COMMIT``, when set, names the commit instead: the tree copied to a lent GPU machine
    may have no .git, or a stale one (session 14's second call there read the HEAD of its first call).
    """
    named = os.environ.get("TRAINER_GIT_COMMIT")
    if named:
        return named
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Run:
    """Data bundle, network, task and run folder of one recipe."""

    def __init__(self, recipe: Recipe, csv_path: CsvPaths, out_dir: Path | str, device: str = "cpu"):
        self.recipe = recipe
        self.csv_paths = csv_list(csv_path)
        self.out_dir = Path(out_dir)
        self.spec = get_spec(recipe.model)
        self.bundle: DataBundle = load_data(self.spec, recipe, self.csv_paths, device, training=True)
        if self.bundle.lung_mask_source:
            recipe.note(f"lung masks: {self.bundle.lung_mask_source}")
        self.train_spec = effective_spec(self.spec, recipe)
        self.model_kwargs = model_kwargs(self.spec, recipe)
        self.model = create_model(recipe.model, **self.model_kwargs)
        init_from = str(recipe["train"].get("init_from") or "")
        if init_from:
            self.model.load_state_dict(_initial_state(Path(init_from), recipe.model))
            recipe.note(f"initialised from the trained weights in {init_from} ({_weights_label(Path(init_from))}; fine-tuning, not from random weights)")
        train_only = trained_prefixes(recipe["train"])
        if train_only:
            trained = restrict_training(self.model, train_only)
            total = sum(p.numel() for p in self.model.parameters())
            recipe.note(f"only {', '.join(train_only)} trained ({trained / 1e6:.1f} of {total / 1e6:.1f} M parameters); "
                        "the rest kept its weights and batch-norm statistics")
        self.task = make_task(self.spec, recipe["task"], recipe["method"])
        self.step_module = StepModule(self.model, self.task, self._source_adversary())
        self.spatial_dims = 3 if self.bundle.pp.kind == "ct_volume" else 2
        self._val_set: Any = None
        self._tb: Any = None

    def _source_adversary(self) -> Any:
        """The within-label source adversary when ``[method] source_adversary`` > 0 (trainer.source_adversary)."""
        method = self.recipe["method"]
        scale = float(method.get("source_adversary", 0.0))
        if scale <= 0:
            return None
        from trainer.source_adversary import ClassifierInput, SourceAdversary

        stages = [self.recipe.stage_values(stage)["method"] for stage in range(len(self.recipe.stage_epochs()))]
        # a mixed image has no one source: every stage must train on unmixed images (GAIN's attention
        # mining is not mixing: the adversary reads its first stream, the film as it is; ClassifierInput)
        mixing = sorted({key for values in stages for key in ("moex", "mixup_alpha") if values.get(key)})
        if mixing or self.recipe["task"] != "classification" or not self.spec.explain.classifier:
            raise ValueError(f"method.source_adversary needs a classifier trained on unmixed images (this recipe: "
                             f"task {self.recipe['task']}, classifier {self.spec.explain.classifier!r}, {', '.join(mixing) or 'no mixing'})")
        adversary = SourceAdversary.from_rows(self.bundle.split.rows("train"), ClassifierInput(self.model, self.spec.explain.classifier).feature_dim,
                                              scale, int(method.get("source_adversary_min_rows", 10)))
        self.recipe.note(adversary.describe() + " (not in the paper; the head is dropped at export)")
        return adversary

    @property
    def eval_batch_size(self) -> int:
        train = self.recipe["train"]
        return int(train.get("eval_batch_size") or train["batch_size"])

    def dataset(self, split: str, values: dict[str, Any] | None = None, train: bool = False) -> Any:
        return make_dataset(self.spec, values or self.recipe.values, self.bundle, split, train)

    def validate(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype | None = None) -> dict[str, float]:
        if self._val_set is None:
            self._val_set = self.dataset("val")
        return validation_loss(model, self.task, self._val_set, device, self.eval_batch_size, dtype)

    def write_inputs(self) -> None:
        """Recipe, data report, split and bad rows, written before the first epoch."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / RECIPE_FILE).write_text(json.dumps(self.recipe.to_dict(), indent=2))
        (self.out_dir / "data.json").write_text(json.dumps(self.bundle.describe(), indent=2))
        write_split_csv(self.bundle, self.out_dir / "split.csv")
        write_bad_rows(self.bundle.report, self.out_dir / "bad_rows.csv")

    def log_epoch(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Rewrite log.csv from the history (a resumed run never duplicates rows); TensorBoard if present."""
        keys = list(history[0])
        with open(self.out_dir / "log.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(history)
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                self._tb = False
            else:
                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
        if self._tb:
            for key, value in record.items():
                if key not in ("epoch", "stage"):
                    self._tb.add_scalar(key, value, record["epoch"])
            self._tb.flush()


def fit(
    model: str,
    csv_path: CsvPaths,
    out_dir: Path | str,
    recipe: Recipe | None = None,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
    stop_after_steps: int | None = None,
    n_boot: int = N_BOOTSTRAP,
) -> dict[str, Any]:
    """Train ``model`` on ``csv_path`` into ``out_dir``; returns the run summary.

    Raises TrainingInterrupted (after writing ``last.pt``) on Ctrl-C or after ``stop_after_steps``.
    """
    out_dir = Path(out_dir)
    if resume:
        saved = out_dir / RECIPE_FILE
        if recipe is None and saved.is_file():
            recipe = recipe_from_dict(json.loads(saved.read_text()))
        if not (out_dir / LAST).is_file():
            raise FileNotFoundError(f"--resume: no {LAST} in {out_dir}")
    elif (out_dir / LAST).is_file():
        raise FileExistsError(f"{out_dir} already holds a run; pass --resume to continue it or choose another --out")
    recipe = recipe or load_recipe(model)
    dist = setup_distributed(device)
    torch.manual_seed(int(recipe["seed"]))  # model initialisation is part of the seeded run
    run = Run(recipe, csv_path, out_dir, str(dist.device))
    if dist.main:
        run.write_inputs()
        print(run.bundle.report.summary())
        print(f"split: {run.bundle.split.method}; " + "; ".join(f"{k}: {v}" for k, v in run.bundle.split.counts().items()))
    engine = Engine(run, dist, progress=progress, stop_after_steps=stop_after_steps)
    started = _dt.datetime.now(_dt.timezone.utc)
    result = engine.fit(resume_from=out_dir / LAST if resume else None)
    summary: dict[str, Any] = {}
    if dist.main:
        summary = finish(run, engine, result, started, n_boot)
    if dist.ddp:
        torch.distributed.barrier()
        if dist.owns_group:
            torch.distributed.destroy_process_group()
    return summary


def finish(run: Run, engine: Engine, result: dict[str, Any], started: _dt.datetime, n_boot: int) -> dict[str, Any]:
    """Evaluate the best checkpoint on val (fp32), write metrics, plots and summary.json."""
    from trainer.report.plots import curves_png

    best = load_checkpoint(run.out_dir / BEST)
    run.model.load_state_dict(best["model"])
    run.model.to("cpu").float()
    metrics = evaluate_and_report(run.model, run.task, run.dataset("val"), torch.device("cpu"), run.eval_batch_size, run.out_dir, n_boot)
    history = engine.state["history"]
    curves_png(history, run.task.metric_name, run.out_dir / "curves.png")
    summary = {
        "model": run.recipe.model,
        "spec": run.train_spec.to_dict(),
        "model_kwargs": run.model_kwargs,
        "recipe": run.recipe.values,
        "deviations": run.recipe.deviations,
        "data": run.bundle.describe(),
        "data_csv": [str(p) for p in run.csv_paths] if len(run.csv_paths) > 1 else str(run.csv_paths[0]),
        "best_epoch": result["best"]["epoch"],
        "best": result["best"],
        "epochs_run": result["epochs_run"],
        "stopped_early": result["stopped_early"],
        "history": history,
        "metrics_val": metrics,
        "device": str(engine.device),
        "amp": str(engine.dtype).replace("torch.", "") if engine.dtype else "off",
        "torch": torch.__version__,
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    rebuild = fine_tune_command(run.recipe, [str(p) for p in run.csv_paths])
    if rebuild:  # a fine-tune of a shipped set: its card names the set's own command first
        summary["trainer"] = rebuild
    (run.out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"best epoch {summary['best_epoch']}; validation: {headline(metrics)}")
    return summary


__all__ = ["Run", "TrainingInterrupted", "fit", "git_commit"]


def _weights_label(folder: Path) -> str:
    """Which weights a fine-tune started from: the weight-set hash of an exported folder, else the run."""
    if (folder / "model.json").is_file():
        from covidviewer.models.weights import weights_sha256

        return f"weight set {weights_sha256(folder)[:16]}"
    return f"run folder {folder.name}"


def _initial_state(folder: Path, model_name: str) -> dict[str, Any]:
    """State dict to fine-tune from: a run folder, or an exported weights folder of this network,
    also of an earlier spec version (e.g. stage 1 before COVID-19 was routed to viral)."""
    if not (folder / "model.json").is_file():
        return load_trained(folder, model_name).model.state_dict()
    from covidviewer.models.weights import load_weights, read_sidecar

    if read_sidecar(folder).get("spec", {}).get("name") != model_name:
        raise ValueError(f"{folder} holds weights of another network, not {model_name}")
    donor = create_model(model_name)
    donor.spec = None  # the version check is for the app; names and shapes are still checked
    return load_weights(donor, folder).state_dict()
