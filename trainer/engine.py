"""The training loop: seeds, AMP, channels_last, gradient clipping, early stopping, best-on-val
checkpoints, Ctrl-C -> resumable checkpoint, and DistributedDataParallel under ``torchrun``.

One process per GPU is started by ``torchrun --nproc_per_node N -m trainer fit ...``; with
``WORLD_SIZE`` > 1 the engine joins the process group torchrun set up, wraps the step module in
``torch.nn.parallel.DistributedDataParallel`` and shards each epoch with
``torch.utils.data.DistributedSampler``. The single-process path uses the same sampler with one
replica, so the data order of a run does not depend on how it is launched.
"""
from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from trainer.checkpoint import BEST, LAST, load_checkpoint, model_state, rng_state, save_checkpoint, set_rng_state
from trainer.devices import DistInfo, amp_dtype, cpu_has_native_bf16
from trainer.data.sampling import sampling_weights
from trainer.optim import build_optimizer, build_scheduler
from trainer.partial_training import hold_frozen_in_eval, hold_norm_stats, keeps_norm_stats, trained_prefixes


class TrainingInterrupted(Exception):
    """Training stopped on request (Ctrl-C); ``checkpoint`` resumes it with ``--resume``."""

    def __init__(self, checkpoint: Path, epoch: int, step: int):
        self.checkpoint = checkpoint
        super().__init__(f"interrupted at epoch {epoch + 1}, step {step}; checkpoint {checkpoint}")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and key == "image" and value.dim() == 4:
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def epoch_indices(dataset: Any, epoch: int, seed: int, dist: DistInfo, balanced: Any) -> list[int]:
    """This rank's item order for ``epoch``: DistributedSampler, or balanced draws (``sampling_weights``)."""
    if balanced:
        weights = sampling_weights(dataset, balanced)
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        drawn = torch.multinomial(weights, len(weights), replacement=True, generator=g).tolist()
        return drawn[dist.rank :: dist.world]
    sampler = DistributedSampler(dataset, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return list(sampler)


class StopFlag:
    """First Ctrl-C asks the loop to stop after the current step and checkpoint; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C cannot reach us anyway
            self._previous = None
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping after this step and writing a resumable checkpoint (Ctrl-C again to abort)", flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Engine:
    """Runs the epochs of a prepared run (see trainer.run.Run, which builds data, model and task)."""

    def __init__(self, run: Any, dist: DistInfo, progress: bool = True, stop_after_steps: int | None = None):
        self.run = run
        self.dist = dist
        self.progress = progress and dist.main
        self.stop_after_steps = stop_after_steps
        self.device = dist.device
        self.values = run.recipe.values
        train = self.values["train"]
        self.dtype = amp_dtype(train["amp"], self.device)
        if self.dtype == torch.bfloat16 and self.device.type == "cpu" and cpu_has_native_bf16() is False:
            note = "train.amp bf16 asked for, but this CPU has no native bf16 (no avx512_bf16/amx_bf16): trained in fp32 (emulated bf16 is 10-30x slower here)"
            run.recipe.note(note)
            self._log("note: " + note)
            self.dtype = None
        self.channels_last = bool(train.get("channels_last", True)) and self.device.type == "cuda" and run.spatial_dims == 2
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)
        self.step_module: torch.nn.Module = run.step_module.to(self.device)
        if self.channels_last:
            self.step_module = self.step_module.to(memory_format=torch.channels_last)
        self.wrapped = self.step_module
        if dist.ddp:
            from torch.nn.parallel import DistributedDataParallel

            ids = [dist.local_rank] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.step_module, device_ids=ids)
        if dist.main:
            run.out_dir.mkdir(parents=True, exist_ok=True)
        self.stage_epochs = run.recipe.stage_epochs()
        self.total_epochs = sum(self.stage_epochs)
        self._global_steps = 0
        self._epoch_started: float | None = None
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best": None, "bad_epochs": 0, "accum": None}

    # ------------------------------------------------------------------ stages
    def stage_of(self, epoch: int) -> tuple[int, int]:
        """(stage, first epoch of that stage) for a global epoch index."""
        start = 0
        for stage, n in enumerate(self.stage_epochs):
            if epoch < start + n:
                return stage, start
            start += n
        return len(self.stage_epochs) - 1, start - self.stage_epochs[-1]

    def _enter_stage(self, stage: int) -> None:
        values = self.run.recipe.stage_values(stage)
        self.stage_values = values
        self.run.task.update_method(values["method"])
        self.train_set = self.run.dataset("train", values, train=True)
        params = [p for p in self.step_module.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(params, values["train"])
        self.scheduler = build_scheduler(self.optimizer, values["train"], self.stage_epochs[stage], self._seconds_trained)
        self.stage = stage

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, step: int, accum: dict[str, float] | None) -> dict[str, Any]:
        return {
            "model": model_state(self.step_module),
            **({"adversary": self.step_module.adversary.state_dict()} if getattr(self.step_module, "adversary", None) is not None else {}),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict(),
            "epoch": self.state["epoch"],
            "step": step,
            "stage": self.stage,
            "accum": accum,
            "history": self.state["history"],
            "best": self.state["best"],
            "bad_epochs": self.state["bad_epochs"],
            "rng": rng_state(),
            "recipe": self.values,
        }

    def resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path, self.device)
        if ckpt["recipe"] != self.values:
            raise ValueError(f"{path} was written with a different recipe; resume with the same --config/--set")
        self.step_module.model.load_state_dict(ckpt["model"])
        if getattr(self.step_module, "adversary", None) is not None:
            self.step_module.adversary.load_state_dict(ckpt["adversary"])
        self.state.update({k: ckpt[k] for k in ("epoch", "step", "history", "best", "bad_epochs", "accum")})
        self._enter_stage(self.stage_of(self.state["epoch"])[0] if self.state["epoch"] < self.total_epochs else ckpt["stage"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt["scheduler"]:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])

    # ------------------------------------------------------------------ loop
    def fit(self, resume_from: Path | None = None) -> dict[str, Any]:
        """Train all stages; returns {"best": ..., "epochs_run": ..., "stopped_early": ...}."""
        seed_everything(int(self.values["seed"]))
        if resume_from is not None:
            self.resume(resume_from)
        else:
            self._enter_stage(0)
        stopped_early = False
        with StopFlag() as stop:
            self.stop = stop
            while self.state["epoch"] < self.total_epochs:
                epoch = self.state["epoch"]
                stage, _ = self.stage_of(epoch)
                if stage != self.stage:
                    self._enter_stage(stage)
                    self.state["bad_epochs"] = 0
                record = self._train_epoch(epoch)
                record.update(self.run.validate(self.step_module.model, self.device, self.dtype))
                self._end_epoch(record)
                patience = int(self.stage_values["train"].get("patience", 0))
                if patience and self.state["bad_epochs"] >= patience:
                    stage_end = sum(self.stage_epochs[: self.stage + 1])
                    self._log(f"early stopping: val loss has not improved for {patience} epochs")
                    stopped_early = True
                    self.state["epoch"] = stage_end
                    self._save(LAST, step=0, accum=None)
                if self._past_time_limit():
                    stopped_early = True
                    self.state["epoch"] = self.total_epochs
                    self._save(LAST, step=0, accum=None)
        return {"best": self.state["best"], "epochs_run": len(self.state["history"]), "stopped_early": stopped_early}

    def _seconds_trained(self) -> float:
        """Training seconds of the finished epochs and of the one running now (what the time limit counts)."""
        running = time.time() - self._epoch_started if self._epoch_started is not None else 0.0
        return sum(h["seconds"] for h in self.state["history"]) + running

    def _past_time_limit(self) -> bool:
        """``train.time_limit_minutes``: stop after the epoch that used up the budget (a lent GPU's
        minutes are counted), with the run finished as usual (evaluation, summary) and the reason noted."""
        limit = float(self.values["train"].get("time_limit_minutes") or 0)
        spent = self._seconds_trained()  # between epochs: the finished epochs only
        if not limit or spent < limit * 60 or self.state["epoch"] >= self.total_epochs:
            return False
        note = (f"stopped by its time limit ({limit:g} min of training) after {self.state['epoch']} of "
                f"{self.total_epochs} epochs; the best of those (epoch {self.state['best']['epoch']}) is kept")
        self._log(note)
        self.run.recipe.note(note)
        return True

    def _train_epoch(self, epoch: int) -> dict[str, Any]:
        from tqdm import tqdm

        train = self.stage_values["train"]
        batch_size = int(train["batch_size"])
        seed = int(self.values["seed"])
        self.train_set.set_epoch(epoch)
        indices = epoch_indices(self.train_set, epoch, seed, self.dist, self.values["data"].get("balanced_sampling") or False)
        drop_last = len(indices) > batch_size  # a lone 1-image batch breaks BatchNorm
        n_steps = len(indices) // batch_size if drop_last else math.ceil(len(indices) / batch_size)
        if int(train.get("max_steps_per_epoch", 0)) > 0:
            n_steps = min(n_steps, int(train["max_steps_per_epoch"]))
        first = int(self.state["step"])
        accum = self.state["accum"] or {"loss": 0.0, "n": 0.0, "metric": 0.0, "count": 0.0}
        loader = DataLoader(
            self.train_set,
            batch_size=batch_size,
            sampler=indices[first * batch_size : n_steps * batch_size],
            num_workers=int(self.values["data"].get("num_workers", 0)),
            drop_last=drop_last,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(seed + epoch),  # keeps the global RNG untouched
        )
        self.step_module.train()
        hold_frozen_in_eval(self.step_module.model, trained_prefixes(self.values["train"]))
        if keeps_norm_stats(self.values["train"]):
            hold_norm_stats(self.step_module.model)
        started = last_note = self._epoch_started = time.time()
        bar = tqdm(total=n_steps, initial=first, desc=f"epoch {epoch + 1}/{self.total_epochs}", disable=not self.progress, dynamic_ncols=True, leave=False)
        step = first
        for batch in loader:
            if step >= n_steps:
                break
            batch = to_device(batch, self.device, self.channels_last)
            loss, out = self.train_step(batch, train.get("grad_clip", 0.0))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch + 1} step {step + 1}; lower train.lr or enable train.grad_clip")
            n = int(batch["image"].shape[0])
            metric, count = self.run.task.batch_stats(out, batch)
            accum["loss"] += float(loss.detach()) * n
            accum["n"] += n
            accum["metric"] += metric
            accum["count"] += count
            if "adversary_rows" in out:  # how well the source adversary still tells sources apart
                rows = int(out["adversary_rows"])
                accum["adversary_hits"] = accum.get("adversary_hits", 0.0) + (float(out["adversary_accuracy"]) * rows if rows else 0.0)
                accum["adversary_rows"] = accum.get("adversary_rows", 0.0) + rows
            step += 1
            bar.update(1)
            if not self.progress and self.dist.main and time.time() - last_note > 60:
                # Without bars (logs, nohup) a line a minute shows the run is alive and how fast it goes.
                last_note = time.time()
                rate = (step - first) / max(last_note - started, 1e-6)
                self._log(f"epoch {epoch + 1} step {step}/{n_steps}  loss {accum['loss'] / accum['n']:.4f}  {rate * batch_size:.2f} img/s  epoch ETA {(n_steps - step) / max(rate, 1e-9) / 60:.1f} min")
            bar.set_postfix({"loss": f"{accum['loss'] / accum['n']:.4f}", self.run.task.metric_name: f"{accum['metric'] / max(accum['count'], 1):.3f}"})
            self._global_steps += 1
            if self.stop.requested or (self.stop_after_steps is not None and self._global_steps >= self.stop_after_steps):
                bar.close()
                path = self._save(LAST, step=step, accum=accum)
                raise TrainingInterrupted(path, epoch, step)
        bar.close()
        if self.scheduler is not None:
            self.scheduler.step()
        self._epoch_started = None
        return {
            "epoch": epoch + 1,
            "stage": self.stage + 1,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "train_loss": accum["loss"] / max(accum["n"], 1),
            f"train_{self.run.task.metric_name}": accum["metric"] / max(accum["count"], 1),
            **({"train_adversary_acc": accum["adversary_hits"] / max(accum["adversary_rows"], 1)} if "adversary_rows" in accum else {}),
            "seconds": round(time.time() - started, 2),
        }

    def train_step(self, batch: dict[str, Any], grad_clip: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimizer step on a batch already on the device: forward (autocast), loss, backward,
        optional clipping, step. A non-finite loss skips the update and is returned for the caller."""
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            out = self.wrapped(batch, True)
            loss = self.run.task.loss(out, batch)
            if "adversary_loss" in out:  # the source head's loss and the network's confusion term (trainer.source_adversary)
                loss = loss + out["adversary_loss"]
        if not torch.isfinite(loss):
            self.optimizer.zero_grad(set_to_none=True)
            return loss.detach(), out
        self.scaler.scale(loss).backward()
        if float(grad_clip) > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.step_module.parameters(), float(grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach(), out

    def _end_epoch(self, record: dict[str, Any]) -> None:
        self.state["history"].append(record)
        self.state["epoch"] = record["epoch"]
        self.state["step"] = 0
        self.state["accum"] = None
        best = self.state["best"]
        key = self.values["train"].get("select", "val_loss")
        value = record[key] if key == "val_loss" else -record[key]  # stored so that lower is better
        if best is None or value < best["value"]:
            self.state["best"] = {"epoch": record["epoch"], "value": value, "key": key, "val_loss": record["val_loss"]}
            self._save(BEST, step=0, accum=None)
        # Early stopping watches the validation loss (as the papers), whatever selects the best.
        previous = [h["val_loss"] for h in self.state["history"][:-1]]
        if not previous or record["val_loss"] < min(previous):
            self.state["bad_epochs"] = 0
        else:
            self.state["bad_epochs"] += 1
        self._save(LAST, step=0, accum=None)
        if self.dist.main:
            self.run.log_epoch(record, self.state["history"])
            done = sum(h["seconds"] for h in self.state["history"]) / len(self.state["history"])
            eta = done * (self.total_epochs - record["epoch"])
            metric = self.run.task.metric_name
            self._log(
                f"epoch {record['epoch']}/{self.total_epochs}  train loss {record['train_loss']:.4f} {metric} {record[f'train_{metric}']:.3f}"
                f"  val loss {record['val_loss']:.4f} {metric} {record[f'val_{metric}']:.3f}  lr {record['lr']:.2e}"
                + (f"  source adversary acc {record['train_adversary_acc']:.2f}" if "train_adversary_acc" in record else "")
                + f"  {record['seconds']:.0f}s  ETA {eta / 60:.1f} min" + ("  *best*" if self.state["best"]["epoch"] == record["epoch"] else "")
            )

    def _save(self, name: str, step: int, accum: dict[str, float] | None) -> Path:
        path = self.run.out_dir / name
        if self.dist.main:
            save_checkpoint(path, self._checkpoint(step, accum))
        return path

    def _log(self, text: str) -> None:
        if self.dist.main:
            from tqdm import tqdm

            tqdm.write(text)
