"""The lung U-Net's mask applied to a classifier's last feature map, so its answer reads the lung cells only.

VGG-16-GA (its paper) multiplies the features by the mask and averages over every cell. DPN-SENet (session
21, against the source shortcut) pools over the lung cells only: ``renormalise`` scales the masked map so the
head's global average becomes the mean over the lung cells, which keeps the features on the scale its head
was trained on. A Grad-CAM on the gate's output is then the exact CAM of that pooling, and empty outside the
lungs, which is where the answer no longer comes from.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: a mask with less lung than this share of one cell has found no lungs: that image is pooled over every cell
NO_LUNG = 1e-3


def mask_on_grid(lung_mask: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) or (B, H, W) mask in [0, 1] -> (B, 1, h, w) on the features' grid: the fraction of lung in
    each cell (bilinear when the mask is coarser than the features)."""
    if lung_mask.dim() == 3:
        lung_mask = lung_mask.unsqueeze(1)
    if lung_mask.dim() != 4 or lung_mask.shape[1] != 1 or lung_mask.shape[0] not in (1, features.shape[0]):
        raise ValueError(f"lung mask must be (B, 1, H, W) for {features.shape[0]} images, got {tuple(lung_mask.shape)}")
    mask = lung_mask.to(features.dtype)
    if mask.shape[-2] >= features.shape[-2] and mask.shape[-1] >= features.shape[-1]:
        mask = F.adaptive_avg_pool2d(mask, features.shape[-2:])
    else:
        mask = F.interpolate(mask, size=features.shape[-2:], mode="bilinear", align_corners=False)
    return mask.clamp(0.0, 1.0)


class LungMaskGate(nn.Module):
    """Multiply (B, C, h, w) features by the mask on their grid; ``None`` passes them through unchanged.

    renormalise: also scale each image's map by (cells / lung cells), so a global average pool after the gate
    is the mean over the lung cells alone; an image whose mask holds no lung is passed through unchanged.
    """

    def __init__(self, renormalise: bool = False):
        super().__init__()
        self.renormalise = renormalise

    def forward(self, features: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        if lung_mask is None:
            return features
        mask = mask_on_grid(lung_mask, features)
        if self.renormalise:
            cells = mask.shape[-2] * mask.shape[-1]
            lung = mask.sum(dim=(-2, -1), keepdim=True)
            found = lung >= NO_LUNG
            mask = torch.where(found, mask * (cells / lung.clamp_min(NO_LUNG)), torch.ones_like(mask))
        return features * mask

    def extra_repr(self) -> str:
        return "renormalise=True" if self.renormalise else ""
