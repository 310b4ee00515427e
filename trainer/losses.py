"""Loss functions of the papers' recipes that torch does not ship.

- ``dice_bce_loss``: lung U-Net, Dice + BCE over the valid (not "ignore") pixels.
- ``mixed_cross_entropy``: MoEx / mixup label mixing, lambda * CE(y_a) + (1 - lambda) * CE(y_b).
- ``mixed_bce``: the same for a single-logit binary model (mixup on DResUNet).
- ``set_cross_entropy``: -log of the probability of the label's SET of classes (a coarse label such
  as "pneumonia, cause unknown" allows bacterial or viral); plain cross-entropy for one class.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dice_bce_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    dice_weight: float = 1.0,
    bce_weight: float = 1.0,
    eps: float = 1.0,
) -> torch.Tensor:
    """Soft Dice (per image, smoothed by ``eps``) + mean BCE over valid pixels.

    logits, target, valid: (B, 1, H, W); target 0/1; valid 0/1 (0 = ignore label, e.g. mask 127).
    """
    logits = logits.float()
    valid = torch.ones_like(target) if valid is None else valid.float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    bce = (bce * valid).sum() / valid.sum().clamp_min(1.0)
    prob = torch.sigmoid(logits) * valid
    tgt = target * valid
    inter = (prob * tgt).flatten(1).sum(1)
    total = prob.flatten(1).sum(1) + tgt.flatten(1).sum(1)
    dice = 1.0 - (2.0 * inter + eps) / (total + eps)
    return dice_weight * dice.mean() + bce_weight * bce


def mixed_cross_entropy(
    logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float | torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """lambda * CE(logits, y_a) + (1 - lambda) * CE(logits, y_b) (MoEx, Li et al. 2021, eq. 4)."""
    logits = logits.float()
    ce_a = F.cross_entropy(logits, y_a, label_smoothing=label_smoothing)
    ce_b = F.cross_entropy(logits, y_b, label_smoothing=label_smoothing)
    return lam * ce_a + (1.0 - lam) * ce_b


def mixed_bce(logit: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """BCE-with-logits against the mixed label lambda * y_a + (1 - lambda) * y_b (mixup, Zhang et al. 2018).

    BCE is linear in the target, so this equals lambda * BCE(y_a) + (1 - lambda) * BCE(y_b).
    """
    target = lam * y_a.float() + (1.0 - lam) * y_b.float()
    return F.binary_cross_entropy_with_logits(logit.float().reshape(-1), target.reshape(-1))


def set_cross_entropy(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Mean of -log(sum of p_k over the allowed classes k).

    logits: (B, K); allowed: (B, K) 0/1 with at least one 1 per row. A row with one allowed class
    gives exactly cross-entropy; a coarse row is never forced onto one of its classes.
    """
    logits = logits.float()
    masked = logits.masked_fill(allowed <= 0, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(masked, dim=1)).mean()


def mixed_set_cross_entropy(logits: torch.Tensor, allowed_a: torch.Tensor, allowed_b: torch.Tensor, lam: float | torch.Tensor) -> torch.Tensor:
    """MoEx / mixup label mixing with set targets: lambda * setCE(a) + (1 - lambda) * setCE(b)."""
    return lam * set_cross_entropy(logits, allowed_a) + (1.0 - lam) * set_cross_entropy(logits, allowed_b)
