"""Weight initialisation shared by the networks that train from scratch (He et al. 2015)."""
from __future__ import annotations

from torch import nn


def kaiming_normal_init(model: nn.Module, linear_std: float | None = None) -> None:
    """Kaiming-normal (fan_out, ReLU) conv kernels with zero biases, BN (1, 0), in 2D and 3D.

    ``linear_std``: also draw Linear weights from N(0, std) with zero bias (small classifier start);
    None leaves Linear layers at PyTorch's default.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif linear_std is not None and isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
