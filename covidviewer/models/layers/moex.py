"""MoEx: moment exchange with positional normalisation, a feature-space augmentation.

Li, B., Wu, F., Lim, S.-N., Belongie, S., Weinberger, K. Q. "On Feature Normalization and Data
Augmentation", CVPR 2021 (arXiv:2002.11102, 2020). For each sample a, the features are normalised
with their own positional moments (PONO: mean and standard deviation over the channels at every
position) and re-scaled with the moments of another sample b = a[permutation]. The loss then mixes
the two labels: ``lam * CE(y_a) + (1 - lam) * CE(y_b)``.

The layer is the identity unless the model is training AND the trainer armed it for the next
forward (``forward_with_moex``), so evaluation, inference and CAM never see it. It has no
parameters.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# The MoEx paper's ImageNet setting: the original sample's label keeps 90 % of the loss.
DEFAULT_LAMBDA = 0.9


def moment_exchange(x: torch.Tensor, permutation: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """PONO moment exchange on (B, C, *spatial): normalise each sample over channels, take b's moments.

    Computed in float32 (moments of fp16 activations overflow) and returned in the input dtype.
    """
    if permutation.shape != (x.shape[0],):
        raise ValueError(f"permutation shape {tuple(permutation.shape)} != batch ({x.shape[0]},)")
    dtype = x.dtype
    xf = x.float()
    mean = xf.mean(dim=1, keepdim=True)
    std = (xf.var(dim=1, keepdim=True, unbiased=False) + eps).sqrt()
    perm = permutation.to(x.device)
    out = (xf - mean) / std * std[perm] + mean[perm]
    return out.to(dtype)


class MomentExchange(nn.Module):
    """MoEx layer: identity except in a training forward that ``arm`` prepared.

    ``arm(permutation)`` applies to exactly one forward pass and is then cleared, so a forgotten arm
    cannot leak into later batches.
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self._permutation: torch.Tensor | None = None

    def arm(self, permutation: torch.Tensor) -> None:
        """Exchange moments with ``x[permutation]`` in the next training forward."""
        self._permutation = permutation

    def disarm(self) -> None:
        self._permutation = None

    @property
    def armed(self) -> bool:
        return self._permutation is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self._permutation is None:
            return x
        permutation, self._permutation = self._permutation, None
        return moment_exchange(x, permutation, self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


def moex_layers(model: nn.Module) -> list[MomentExchange]:
    """Every MoEx layer inside ``model``."""
    return [m for m in model.modules() if isinstance(m, MomentExchange)]


def forward_with_moex(
    model: nn.Module,
    x: torch.Tensor,
    permutation: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training forward with moment exchange; returns (output, permutation) for label mixing.

    ``permutation`` defaults to a random permutation of the batch (``generator`` makes it
    reproducible). Raises if the model has no MoEx layer or is not in training mode, since MoEx in
    evaluation would be a silent bug.
    """
    layers = moex_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no MoEx layer")
    if not model.training:
        raise ValueError("MoEx is a training augmentation: call model.train() first")
    if permutation is None:
        permutation = torch.randperm(x.shape[0], generator=generator).to(x.device)
    for m in layers:
        m.arm(permutation)
    try:
        out = model(x)
    finally:
        for m in layers:  # a layer the forward skipped must not fire on the next batch
            m.disarm()
    return out, permutation


def moex_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    logits: torch.Tensor,
    targets: torch.Tensor,
    permutation: torch.Tensor,
    lam: float = DEFAULT_LAMBDA,
) -> torch.Tensor:
    """MoEx label mixing: ``lam * loss(logits, y) + (1 - lam) * loss(logits, y[permutation])``."""
    return lam * loss_fn(logits, targets) + (1.0 - lam) * loss_fn(logits, targets[permutation.to(targets.device)])
