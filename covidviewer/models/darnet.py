"""DARNet: dual-attention residual network for COVID-19 screening on 3D chest CT.

Shi, J., Yi, H., Ruan, S., Wang, Z., Hao, X., An, H., Wei, W. "DARNet: Dual-Attention Residual
Network for Automatic Diagnosis of COVID-19 via CT Images", arXiv:2105.06779 (2021).
A 3D ResNet-18 whose eight basic blocks each end with channel attention (3D SE, r = 16) and depth
attention in series; 3 classes (COVID-19, common pneumonia, healthy).

Architecture (input 1 x 64 x 224 x 224, D x H x W):
    stem  Conv3d 1->64, kernel (3,7,7), stride (1,2,2), BN, ReLU, no max-pool   64 x 112 x 112
    layer1 2 blocks,  64 ch, stride 1                                            64 x 112 x 112
    layer2 2 blocks, 128 ch, stride 2                                            32 x  56 x  56
    layer3 2 blocks, 256 ch, stride 2                                            16 x  28 x  28
    layer4 2 blocks, 512 ch, stride 2                                             8 x  14 x  14
    GAP, FC 512 -> 3 (COVID-19, common pneumonia, healthy)
so depth is /8 and height/width /16 at the last stage, as the paper states: the stem strides only
in-plane and layers 2-4 stride in all three axes.

Parameter count derivation (reproduces Table III to < 0.01 %):
    plain 3D ResNet-18 (bias-free convs, BN, 1x1x1 conv+BN projection shortcuts, FC 512x3+3)
        = 33,148,995                                             -> 33.15 M ("neither")
    channel attention, SE with biases, hidden C/16, per block C*C/16*2 + C/16 + C, 2 blocks/stage
        = 2 * (580 + 2,184 + 8,464 + 33,312) = 89,080             -> 33.24 M ("no DA")
    depth attention, FC C*D -> D (r = C) and D -> C*D with biases, per block 2*C*D^2 + D + C*D,
        D = 64, 32, 16, 8 for C = 64, 128, 256, 512:
        = 2 * (528,448 + 266,272 + 135,184 + 69,640) = 1,999,088   -> 35.15 M ("no CA")
    all together = 35,237,163                                    -> 35.24 M (full DARNet)
D = 64 in layer1 (no depth stride in the stem) is what gives 2.00 M; a depth-strided stem
(D = 32, 16, 8, 4) would give 0.28 M. Input: lung window (-600, 1500) HU, 64 x 224 x 224 (spec).

CAM: ``cam_layers = ("layer4.1",)`` (last block, 512 x 8 x 14 x 14); classic CAM is
``class_activation_map(features, model.head.fc.weight, k)``. After a forward, ``model.last_depth_attention``
is the last block's detached (B, C, D) depth gate; ``.mean(1)`` is a per-slice importance strip.
Weights are Kaiming-normal initialised; nothing here is trained.
"""
from __future__ import annotations

import torch
from torch import nn

from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.layers.attention import DepthAttention
from covidviewer.models.layers.heads import ClassifierHead
from covidviewer.models.layers.se import SqueezeExcite
from covidviewer.models.registry import register_model
from covidviewer.models.spec import CellCentres, ExplainSpec, ModelSpec

CLASSES = ("COVID-19", "common pneumonia", "healthy")
INPUT_SIZE = (64, 224, 224)
PAPER = (
    "Shi et al. 2021, DARNet: Dual-Attention Residual Network for Automatic Diagnosis of COVID-19 "
    "via CT Images (arXiv:2105.06779)"
)


class DualAttentionBlock(nn.Module):
    """3D basic block: two 3x3x3 conv/BN (ReLU between), then channel and depth attention, + shortcut."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int,
        depth: int,
        channel_attention: bool = True,
        depth_attention: bool = True,
        se_reduction: int = 16,
    ):
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(channels)
        self.ca = SqueezeExcite(channels, spatial_dims=3, reduction=se_reduction) if channel_attention else None
        self.da = DepthAttention(channels, depth) if depth_attention else None
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm3d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.ca is not None:
            out = self.ca(out)
        if self.da is not None:
            out = self.da(out)
        return self.relu(out + shortcut)


class DARNet(nn.Module):
    """3D ResNet-18 with dual (channel + depth) attention in every basic block.

    ``input_depth`` fixes the depth-attention FC sizes: a model built for 64 slices refuses other
    depths (tests build small ones with ``input_depth=16``). Forward: (B, 1, D, H, W) -> (B, 3) logits.
    """

    def __init__(
        self,
        num_classes: int = len(CLASSES),
        in_chans: int = 1,
        input_depth: int = INPUT_SIZE[0],
        channel_attention: bool = True,
        depth_attention: bool = True,
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
        blocks_per_stage: int = 2,
    ):
        super().__init__()
        if input_depth % 8:
            raise ValueError(f"input_depth must be a multiple of 8 (three depth strides), got {input_depth}")
        self.input_depth = input_depth
        self.conv1 = nn.Conv3d(in_chans, widths[0], (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages = []
        in_ch, depth = widths[0], input_depth
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            depth //= stride
            blocks = [
                DualAttentionBlock(in_ch if b == 0 else width, width, stride if b == 0 else 1, depth,
                                   channel_attention, depth_attention)
                for b in range(blocks_per_stage)
            ]
            stages.append(nn.Sequential(*blocks))
            in_ch = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.head = ClassifierHead(widths[-1], num_classes, spatial_dims=3)
        self.num_features = widths[-1]
        kaiming_normal_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) -> last block's (B, 512, D/8, H/16, W/16) feature maps."""
        if x.dim() != 5 or x.shape[2] != self.input_depth:
            raise ValueError(f"DARNet expects (B, C, {self.input_depth}, H, W), got {tuple(x.shape)}")
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def depth_attention_maps(self) -> dict[str, torch.Tensor]:
        """Every block's detached (B, C, D) depth gate from the last forward, keyed by module path."""
        return {
            name.removesuffix(".da"): m.last_weights
            for name, m in self.named_modules()
            if isinstance(m, DepthAttention) and m.last_weights is not None
        }

    @property
    def last_depth_attention(self) -> torch.Tensor | None:
        """The last block's (B, C, D) depth gate from the last forward; None without depth attention."""
        da = self.layer4[-1].da
        return None if da is None else da.last_weights


def class_activation_map(features: torch.Tensor, fc_weight: torch.Tensor, class_idx: int) -> torch.Tensor:
    """Classic CAM (Zhou et al. 2016) for a GAP + linear head: sum_c w[k, c] * F_c.

    features: (B, C, *spatial) maps feeding the GAP; fc_weight: (K, C). Returns (B, *spatial),
    not rectified or normalised (the explain package does that).
    """
    if features.shape[1] != fc_weight.shape[1]:
        raise ValueError(f"features have {features.shape[1]} channels, classifier expects {fc_weight.shape[1]}")
    return torch.einsum("bc...,c->b...", features, fc_weight[class_idx])



def _spec(name: str, description: str, depth_attention: bool = True) -> ModelSpec:
    return ModelSpec(
        name=name,
        version="1",
        task="classification",
        modality="CT_VOLUME",
        classes=CLASSES,
        preprocess=Preprocess(kind="ct_volume", size=INPUT_SIZE, channels=1, window=(-600.0, 1500.0)),
        weights=name,
        paper=PAPER,
        description=description,
        ablation_of="" if name == "darnet" else "darnet",
        explain=ExplainSpec(
            cam_layers=("layer4.1",),
            classifier="head.fc",
            default_method="cam",  # the paper's map
            depth_attention="last_depth_attention" if depth_attention else "",
            # strided 3x3x3 convs, no max-pool: cell i is centred on input voxel stride*i. Declared so the
            # first 3D map does not pay for measuring it (seconds); a test checks it against the probe.
            cell_centres={"layer4.1": CellCentres(origin=(0.0, 0.0, 0.0), stride=(8.0, 16.0, 16.0))},
        ),
        small_input_depth=16,
    )


@register_model(_spec("darnet", "DARNet: 3D ResNet-18 with channel + depth attention"))
def darnet(**kwargs: object) -> DARNet:
    return DARNet(**kwargs)  # type: ignore[arg-type]


@register_model(_spec("darnet_no_ca", "DARNet ablation without channel attention"))
def darnet_no_ca(**kwargs: object) -> DARNet:
    return DARNet(channel_attention=False, **kwargs)  # type: ignore[arg-type]


@register_model(_spec("darnet_no_da", "DARNet ablation without depth attention", depth_attention=False))
def darnet_no_da(**kwargs: object) -> DARNet:
    return DARNet(depth_attention=False, **kwargs)  # type: ignore[arg-type]


@register_model(_spec("darnet_plain", "DARNet ablation: plain 3D ResNet-18 (no attention)", depth_attention=False))
def darnet_plain(**kwargs: object) -> DARNet:
    return DARNet(channel_attention=False, depth_attention=False, **kwargs)  # type: ignore[arg-type]
