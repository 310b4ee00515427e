"""Pick the 2D or 3D flavour of a torch layer from ``spatial_dims`` (MONAI's factory idea)."""
from __future__ import annotations

from torch import nn

_LAYERS = {
    "conv": {2: nn.Conv2d, 3: nn.Conv3d},
    "bn": {2: nn.BatchNorm2d, 3: nn.BatchNorm3d},
    "avgpool": {2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d},
    "maxpool": {2: nn.MaxPool2d, 3: nn.MaxPool3d},
}


def layer(kind: str, spatial_dims: int) -> type[nn.Module]:
    """``layer("conv", 3)`` -> ``nn.Conv3d``."""
    try:
        return _LAYERS[kind][spatial_dims]
    except KeyError:
        raise ValueError(f"no {kind!r} layer for spatial_dims={spatial_dims}") from None
