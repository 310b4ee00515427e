"""Per-model training steps: what a forward returns, which loss it is scored with, what is reported.

- ``ClassificationTask``: cross-entropy (dpn92_se, darnet), BCE-with-logits for single-logit models
  (dresunet), MoEx with label mixing (seme_*), mixup (dresunet), CE + alpha * attention mining
  (vgg16_ga, GAIN via covidviewer.models.vgg_ga), and the lung mask as a second input where the
  spec's ``lung_mask`` is "forward_arg".
- ``SegmentationTask``: Dice + BCE ignoring the mask's "ignore" label (lung U-Net); reports IoU.

``forward`` runs inside ``StepModule.forward`` so that DistributedDataParallel sees every forward
(DDP must wrap the module whose forward produces the loss inputs).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from trainer.losses import dice_bce_loss, mixed_bce, mixed_cross_entropy, mixed_set_cross_entropy, set_cross_entropy


class StepModule(nn.Module):
    """Wraps a network so one ``forward(batch, train)`` does a task's whole forward pass."""

    def __init__(self, model: nn.Module, task: "Task", adversary: nn.Module | None = None):
        super().__init__()
        if adversary is not None and getattr(model, "members", 1) > 1:
            raise ValueError("the source adversary reads one classifier's input; an ensemble's members each have their own")
        self.model = model
        self.task = task
        self.adversary = adversary  # trainer.source_adversary.SourceAdversary, trained alongside (not exported)

    def forward(self, batch: dict[str, Any], train: bool) -> dict[str, torch.Tensor]:
        if not (train and self.adversary is not None):
            return self.task.forward(self.model, batch, train)
        from trainer.source_adversary import ClassifierInput

        with ClassifierInput(self.model, self.task.spec.explain.classifier) as tap:
            out = self.task.forward(self.model, batch, train)
        adversary = self.adversary(tap.features, batch["label_name"], batch["source"])
        out["adversary_loss"], out["adversary_accuracy"], out["adversary_rows"] = adversary["loss"], adversary["accuracy"], adversary["rows"]
        return out


class Task:
    """Interface: forward -> outputs dict, loss(outputs, batch), batch_stats for the progress bar."""

    metric_name = "metric"

    def __init__(self, spec: Any, method: dict[str, Any]):
        self.spec = spec
        self.method = dict(method)
        self.notes: list[str] = []

    def update_method(self, method: dict[str, Any]) -> None:
        """New stage: the recipe's ``[method]`` table may change (e.g. MoEx off in stage 2)."""
        self.method = dict(method)

    def forward(self, model: nn.Module, batch: dict[str, Any], train: bool) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """Plain inference logits, exactly as the app calls the network."""
        args, kwargs = _model_inputs(model, self.spec, batch)
        return model(*args, **kwargs)

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def batch_stats(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[float, float]:
        """(metric sum, count) over the batch, e.g. correct predictions and images."""
        raise NotImplementedError


def _model_inputs(model: nn.Module, spec: Any, batch: dict[str, Any]) -> tuple[tuple[torch.Tensor, ...], dict[str, Any]]:
    args = (batch["image"],)
    kwargs: dict[str, Any] = {}
    if spec.lung_mask == "forward_arg":
        kwargs["lung_mask"] = batch["lung_mask"]
    return args, kwargs


def _logits(model: nn.Module, args: tuple, kwargs: dict[str, Any], train: bool) -> dict[str, torch.Tensor]:
    """The network's logits; in training, an ensemble's members' own too (``PlainCNN(members=...)``), so that each
    member is scored on its own rather than through their mean."""
    if train and getattr(model, "members", 1) > 1:
        members = model.forward_members(*args, **kwargs)
        return {"logits": members.mean(0), "member_logits": members}
    return {"logits": model(*args, **kwargs)}


class ClassificationTask(Task):
    """Image-level classes; the loss depends on the recipe's ``[method]`` table and the spec."""

    metric_name = "acc"

    def __init__(self, spec: Any, method: dict[str, Any]):
        super().__init__(spec, method)
        self.binary = bool(spec.binary_logit)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K) class probabilities (a single logit becomes [1 - p, p])."""
        logits = logits.float()
        if self.binary:
            p = torch.sigmoid(logits.reshape(-1))
            return torch.stack([1 - p, p], dim=1)
        return logits.softmax(dim=1)

    def forward(self, model: nn.Module, batch: dict[str, Any], train: bool) -> dict[str, torch.Tensor]:
        target = batch["target"]
        if float(self.method.get("attention_alpha", 0.0)) > 0:
            return self._gain_forward(model, batch)
        args, kwargs = _model_inputs(model, self.spec, batch)
        if train and self.method.get("moex"):
            return self._moex_forward(model, args, kwargs, target)
        alpha = float(self.method.get("mixup_alpha", 0.0))
        if train and alpha > 0:
            lam = float(torch.distributions.Beta(alpha, alpha).sample())
            perm = torch.randperm(target.shape[0], device=target.device)
            mixed = lam * args[0] + (1.0 - lam) * args[0][perm]
            return {**_logits(model, (mixed, *args[1:]), kwargs, train), "perm": perm, "lam": torch.tensor(lam)}
        return _logits(model, args, kwargs, train)

    def _moex_forward(self, model: nn.Module, args: tuple, kwargs: dict, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """MoEx (Li et al. 2021) through the model's own MomentExchange layer: image i takes the
        feature moments of image perm[i], and the loss mixes the labels with ``moex_lambda``."""
        from covidviewer.models.layers.moex import DEFAULT_LAMBDA, forward_with_moex

        if args[1:] or kwargs:
            raise ValueError(f"{self.spec.name}: MoEx is only wired for single-input networks")
        prob = float(self.method.get("moex_prob", 1.0))
        if torch.rand(()) >= prob:
            return {"logits": model(*args, **kwargs)}
        perm = torch.randperm(target.shape[0]).to(target.device)
        logits, perm = forward_with_moex(model, args[0], perm)
        return {"logits": logits, "perm": perm, "lam": torch.tensor(float(self.method.get("moex_lambda", DEFAULT_LAMBDA)))}

    def _gain_forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Guided attention (GAIN): classification stream + attention-mining stream. Chest-erased copies
        (``augment.erased_copies``) have no class to mine attention for: the classification stream runs over every
        item first (the source adversary reads that forward's features), the attention mining over the others, whose
        ``am_scores`` alone are returned."""
        from covidviewer.models.vgg_ga import gain_forward

        erased, lung = batch.get("erased"), batch.get("lung_mask")
        if erased is None or not bool(erased.any()):
            out = gain_forward(model, batch["image"], batch["target"], lung)
            return {"logits": out.logits, "am_scores": out.am_scores}
        kept = ~erased.bool()
        logits = model(batch["image"], lung)
        am_scores = logits.new_zeros((0,))
        if bool(kept.any()):
            am_scores = gain_forward(model, batch["image"][kept], batch["target"][kept], None if lung is None else lung[kept]).am_scores
        return {"logits": logits, "am_scores": am_scores}

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> torch.Tensor:
        if "member_logits" in out:  # a deep ensemble: the mean of its members' own losses
            rest = {key: value for key, value in out.items() if key not in ("logits", "member_logits")}
            return torch.stack([self.loss({**rest, "logits": m}, batch) for m in out["member_logits"]]).mean()
        erased = batch.get("erased")
        if erased is not None and bool(erased.any()):
            return self._loss_with_erased(out, batch, erased.bool())
        logits, target = out["logits"], batch["target"]
        smoothing = float(self.method.get("label_smoothing", 0.0))
        if "am_scores" in out:
            from covidviewer.models.vgg_ga import guided_attention_loss

            return guided_attention_loss(logits.float(), target, out["am_scores"].float(), float(self.method["attention_alpha"]))
        allowed = batch.get("target_set")
        coarse = allowed is not None and bool((allowed.sum(1) > 1).any())
        if "perm" in out:
            lam = out["lam"].to(logits.device)
            if self.binary:
                return mixed_bce(logits, target, target[out["perm"]], lam)
            if coarse:
                return mixed_set_cross_entropy(logits, allowed, allowed[out["perm"]], lam)  # type: ignore[index]
            return mixed_cross_entropy(logits, target, target[out["perm"]], lam, smoothing)
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits.float().reshape(-1), target.float())
        if coarse:
            return set_cross_entropy(logits, allowed)  # type: ignore[arg-type]
        return F.cross_entropy(logits.float(), target, label_smoothing=smoothing)

    def _loss_with_erased(self, out: dict[str, torch.Tensor], batch: dict[str, Any], erased: torch.Tensor) -> torch.Tensor:
        """Chest-erased copies (``augment.erased_copies``) are learnt with no class, the uniform distribution over the
        classes (p = 0.5 for a single logit): what is left around the lungs must not carry the answer. Unmixed, the rest
        of the batch takes its usual loss and every item weighs alike; under mixup or MoEx every item's target is a
        distribution (one-hot, or uniform for an erased copy) mixed as the labels are."""
        if {key for key in out if not key.startswith("adversary_")} - {"logits", "perm", "lam", "am_scores"}:
            raise ValueError(f"augment.erased_copies works with cross-entropy, mixup, MoEx, the GAIN attention loss and "
                             f"the source adversary, not with {sorted(out)}")
        logits = out["logits"].float()
        if "am_scores" in out:  # GAIN: its loss on the other images (their own attention mining), uniform on the copies
            rest = {"logits": logits[~erased], "am_scores": out["am_scores"]}
            return self._weighed_with_uniform(logits, erased, lambda: self.loss(rest, _items(batch, ~erased)))
        if "perm" in out:
            return self._mixed_with_erased(logits, batch, erased, out["perm"], out["lam"].to(logits.device))
        return self._weighed_with_uniform(logits, erased, lambda: self.loss({"logits": logits[~erased]}, _items(batch, ~erased)))

    def _weighed_with_uniform(self, logits: torch.Tensor, erased: torch.Tensor, rest: Any) -> torch.Tensor:
        """The erased copies' loss against the uniform target and ``rest()``, the other images' usual loss, weighed by
        how many items each has."""
        n, n_erased = erased.numel(), int(erased.sum())
        if self.binary:
            half = torch.full((n_erased,), 0.5, device=logits.device)
            uniform = F.binary_cross_entropy_with_logits(logits[erased].reshape(-1), half)
        else:
            uniform = -F.log_softmax(logits[erased], dim=1).mean(1).mean()
        if n_erased == n:
            return uniform
        return (rest() * (n - n_erased) + uniform * n_erased) / n

    def _mixed_with_erased(self, logits: torch.Tensor, batch: dict[str, Any], erased: torch.Tensor, perm: torch.Tensor,
                           lam: torch.Tensor) -> torch.Tensor:
        allowed = batch.get("target_set")
        if (allowed is not None and bool((allowed.sum(1) > 1).any())) or float(self.method.get("label_smoothing", 0.0)):
            raise ValueError("augment.erased_copies under mixup or MoEx takes one class per image: no coarse labels, "
                             "no label smoothing")
        target = batch["target"]
        if self.binary:
            soft = torch.where(erased, torch.full_like(target, 0.5, dtype=torch.float32), target.float())
            return F.binary_cross_entropy_with_logits(logits.reshape(-1), lam * soft + (1.0 - lam) * soft[perm])
        k = logits.shape[1]
        soft = F.one_hot(target, k).float()
        soft[erased] = 1.0 / k
        mixed = lam * soft + (1.0 - lam) * soft[perm]
        return -(mixed * F.log_softmax(logits, dim=1)).sum(1).mean()

    def batch_stats(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[float, float]:
        """Correct = the predicted class is one the label allows (any of a coarse label's classes); chest-erased copies
        have no class and are not counted."""
        erased = batch.get("erased")
        if erased is not None and bool(erased.any()):
            kept = ~erased.bool()
            return self.batch_stats({"logits": out["logits"][kept]}, _items(batch, kept))
        pred = self.probabilities(out["logits"].detach()).argmax(1)
        allowed = batch.get("target_set")
        if allowed is not None:
            hits = allowed.gather(1, pred[:, None])[:, 0] > 0
            return float(hits.sum()), float(pred.numel())
        return float((pred == batch["target"]).sum()), float(pred.numel())


class SegmentationTask(Task):
    """Binary lung segmentation: Dice + BCE over valid pixels; the bar shows the batch IoU."""

    metric_name = "iou"

    def forward(self, model: nn.Module, batch: dict[str, Any], train: bool) -> dict[str, torch.Tensor]:
        return {"logits": model(batch["image"])}

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> torch.Tensor:
        return dice_bce_loss(
            out["logits"],
            batch["target"],
            batch["valid"],
            float(self.method.get("dice_weight", 1.0)),
            float(self.method.get("bce_weight", 1.0)),
        )

    def batch_stats(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> tuple[float, float]:
        pred = out["logits"].detach() > 0
        target, valid = batch["target"] > 0.5, batch["valid"] > 0.5
        inter = (pred & target & valid).flatten(1).sum(1).float()
        union = ((pred | target) & valid).flatten(1).sum(1).float()
        iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
        return float(iou.sum()), float(iou.numel())


def _items(batch: dict[str, Any], keep: torch.Tensor) -> dict[str, Any]:
    """The batch's items where ``keep`` (tensors and per-item lists alike), without the ``erased`` marks."""
    n, flags = keep.numel(), keep.tolist()
    out = {}
    for key, value in batch.items():
        if key == "erased":
            continue
        if isinstance(value, torch.Tensor) and value.shape[:1] == (n,):
            out[key] = value[keep]
        elif isinstance(value, list) and len(value) == n:
            out[key] = [v for v, f in zip(value, flags) if f]
        else:
            out[key] = value
    return out


def make_task(spec: Any, recipe_task: str, method: dict[str, Any]) -> Task:
    """The Task for a recipe's ``task`` ("classification" or "segmentation")."""
    if recipe_task == "segmentation":
        return SegmentationTask(spec, method)
    if recipe_task == "classification":
        return ClassificationTask(spec, method)
    raise ValueError(f"unknown task {recipe_task!r} (classification, segmentation)")
