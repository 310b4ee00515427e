"""DResUNet: a deformable residual U-Net classifier for COVID-19 on single CT slices (thesis network).

A U-shaped encoder/decoder whose encoder blocks start with a deformable convolution
(Dai et al. 2017, "Deformable Convolutional Networks"; covidviewer.models.layers.deform), whose deepest
block is recalibrated by ECAsE (ECA, Wang et al. 2020, + sSE, Roy et al. 2018; see
covidviewer.models.layers.attention), and whose decoder output is pooled into a classification head
with a feature-pyramid refinement module (FPRM). Output: ONE logit, P(COVID-19) = sigmoid(logit).

Layout for a 256 x 256 input (channels in brackets):
    x1   3x3 conv, BN, ReLU, 2x2 max-pool                              [32]  128
    x2   residual block, stride 1                                     [64]  128
    x3   residual block, stride 2                                    [128]   64
    x4   residual block, stride 2                                    [256]   32
    x5   residual block, stride 2, + ECAsE                           [256]   16
         residual block = 3x3 deformable conv (stride) -> 3x3 -> 3x3 -> 1x1, BN/ReLU after each
         (no ReLU before the sum), 1x1 projection shortcut, ReLU after the sum
    up44 / up33 / up22: the lung U-Net's Up block (bilinear x2, pad to the skip, concat with
         x4 / x3 / x2, two 3x3 conv-BN-ReLU)                          [128]/[64]/[64]   32/64/128
    head four 2x2 max-pools of up22 (p1..p4: 64, 32, 16, 8), dropout 0.5, 1x1 deformable conv-BN-ReLU
         ("neck", [128] at 8), FPRM fusing it with the low-level p2 (32), average pool,
         FC 128 -> 64, ReLU, FC 64 -> 1.
The thesis text names the blocks but not every width; the widths here are our choice, sized for CPU
(6.20 M parameters; ResUNet 5.94 M). x5 strides too, so that up44 (x2) lands on x4's grid.
FPRM is our reading of "fuse high- and low-level features": the high-level map is up-sampled onto
the low-level grid, the low-level map is projected to the same channels and gated per channel by
the high-level context, the two are summed and refined by a 3x3 conv.

Ablations (the thesis' comparison nets) are flags of one class: ``resunet`` (plain convs everywhere,
no ECAsE, no FPRM), ``resunet_ecsa`` (+ ECAsE), ``resunet_fprm`` (+ FPRM).

CAM: ``up22`` (decoder output, half the input resolution) is the first cam layer; the last
feature map before the pool is ``fprm`` (FPRM variants) or ``neck``. Untrained: Kaiming-normal
convs, deformable offsets start at zero (a regular grid).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.layers.attention import ECAsE
from covidviewer.models.layers.deform import DeformableConv2d
from covidviewer.models.registry import register_model
from covidviewer.models.spec import CellCentres, ExplainSpec, ModelSpec
from covidviewer.models.unet import Up

CLASSES = ("non-COVID", "COVID-19")
PAPER = "DResUNet thesis: deformable residual U-Net with ECAsE and FPRM for COVID-19 CT slice classification"


def conv_bn_relu(
    in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, deformable: bool = False
) -> nn.Sequential:
    """Conv (plain or deformable) -> BN -> ReLU; padding keeps the grid (up to the stride)."""
    if deformable:
        conv: nn.Module = DeformableConv2d(in_ch, out_ch, kernel_size, stride)
    else:
        conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class DeformableResidualBlock(nn.Module):
    """(deformable) 3x3 stride s -> 3x3 -> 3x3 -> 1x1 (BN, no ReLU) + projection shortcut -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, deformable: bool = True):
        super().__init__()
        self.conv1 = conv_bn_relu(in_ch, out_ch, 3, stride, deformable)
        self.conv2 = conv_bn_relu(out_ch, out_ch)
        self.conv3 = conv_bn_relu(out_ch, out_ch)
        self.conv4 = nn.Sequential(nn.Conv2d(out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv4(self.conv3(self.conv2(self.conv1(x))))
        return self.relu(out + self.shortcut(x))


class FeaturePyramidRefinement(nn.Module):
    """FPRM: fuse a high-level map (B, Ch, h, w) with a low-level one (B, Cl, H, W) on the low grid.

    out = refine(up(high) + gate(high) * project(low)): semantics from the deep map choose which
    low-level detail channels pass; output (B, Ch, H, W).
    """

    def __init__(self, high_channels: int, low_channels: int):
        super().__init__()
        self.project = conv_bn_relu(low_channels, high_channels, kernel_size=1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, high_channels, 1), nn.Sigmoid()
        )
        self.refine = conv_bn_relu(high_channels, high_channels)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(up + self.gate(high) * self.project(low))


class DResUNet(nn.Module):
    """Deformable residual U-Net classifier; forward (B, C, H, W) -> (B, 1) COVID logit.

    ``deformable``, ``ecase`` and ``fprm`` switch the thesis' three contributions (ablations).
    Any H, W >= 32 works; the shipped spec feeds 256 x 256.
    """

    def __init__(
        self,
        in_chans: int = 1,
        widths: tuple[int, int, int, int, int] = (32, 64, 128, 256, 256),
        decoder_widths: tuple[int, int, int] = (128, 64, 64),
        head_channels: int = 128,
        fc_hidden: int = 64,
        drop_rate: float = 0.5,
        deformable: bool = True,
        ecase: bool = True,
        fprm: bool = True,
    ):
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.x1 = nn.Sequential(conv_bn_relu(in_chans, w1), nn.MaxPool2d(2))
        self.x2 = DeformableResidualBlock(w1, w2, 1, deformable)
        self.x3 = DeformableResidualBlock(w2, w3, 2, deformable)
        self.x4 = DeformableResidualBlock(w3, w4, 2, deformable)
        self.x5 = DeformableResidualBlock(w4, w5, 2, deformable)
        self.ecase = ECAsE(w5) if ecase else None
        d4, d3, d2 = decoder_widths
        self.up44 = Up(w5 + w4, d4)
        self.up33 = Up(d4 + w3, d3)
        self.up22 = Up(d3 + w2, d2)
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(drop_rate)
        self.neck = conv_bn_relu(d2, head_channels, kernel_size=1, deformable=deformable)
        self.fprm = FeaturePyramidRefinement(head_channels, d2) if fprm else None
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(head_channels, fc_hidden)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(fc_hidden, 1)
        self.num_features = head_channels
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the map fed to the average pool: FPRM output or the neck."""
        if x.dim() != 4 or min(x.shape[-2:]) < 32:
            raise ValueError(f"DResUNet expects (B, C, H, W) with H, W >= 32, got {tuple(x.shape)}")
        e2 = self.x2(self.x1(x))
        e3 = self.x3(e2)
        e4 = self.x4(e3)
        e5 = self.x5(e4)
        if self.ecase is not None:
            e5 = self.ecase(e5)
        d2 = self.up22(self.up33(self.up44(e5, e4), e3), e2)
        p2 = self.pool(self.pool(d2))
        high = self.neck(self.dropout(self.pool(self.pool(p2))))
        return high if self.fprm is None else self.fprm(high, p2)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.global_pool(x).flatten(1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs and deformable kernels, BN (1, 0); offset branches back to zero."""
    kaiming_normal_init(model)
    for m in model.modules():
        if isinstance(m, DeformableConv2d):
            nn.init.kaiming_normal_(m.conv.weight, mode="fan_out", nonlinearity="relu")
            # The shared init also hit the offset convs: an untrained deformable conv must sample the regular grid.
            m.reset_offsets()


def _spec(name: str, description: str, fprm: bool) -> ModelSpec:
    return ModelSpec(
        name=name,
        version="1",
        task="classification",
        modality="CT_SLICE",
        classes=CLASSES,
        # The CT slices we have are 8-bit screenshots (UCSD COVID-CT), so the image's own 0..255
        # range is the window; padding keeps the anatomy's aspect ratio (air outside is black).
        preprocess=Preprocess(kind="ct_slice", size=(256, 256), channels=1, window=None, fit="pad"),
        binary_logit=True,
        weights=name,
        paper=PAPER,
        description=description,
        ablation_of="" if name == "dresunet" else "dresunet",
        # up22 is a decoder layer at half the input's resolution: the probe cannot measure its up-sampling and falls
        # back to the centre-aligned grid, which is declared here so the first map skips the failed probe (tested)
        explain=ExplainSpec(cam_layers=("up22", "fprm" if fprm else "neck"), classifier="fc2",
                            cell_centres={"up22": CellCentres(origin=(0.5, 0.5), stride=(2.0, 2.0))}),
    )


@register_model(_spec("dresunet", "DResUNet: deformable residual U-Net + ECAsE + FPRM (1 COVID logit)", True))
def dresunet(**kwargs: object) -> DResUNet:
    return DResUNet(deformable=True, ecase=True, fprm=True, **kwargs)  # type: ignore[arg-type]


@register_model(_spec("resunet", "ResUNet baseline: plain convs, no ECAsE, no FPRM", False))
def resunet(**kwargs: object) -> DResUNet:
    return DResUNet(deformable=False, ecase=False, fprm=False, **kwargs)  # type: ignore[arg-type]


@register_model(_spec("resunet_ecsa", "ResUNet + ECAsE attention (no deformable convs, no FPRM)", False))
def resunet_ecsa(**kwargs: object) -> DResUNet:
    return DResUNet(deformable=False, ecase=True, fprm=False, **kwargs)  # type: ignore[arg-type]


@register_model(_spec("resunet_fprm", "ResUNet + FPRM head (no deformable convs, no ECAsE)", True))
def resunet_fprm(**kwargs: object) -> DResUNet:
    return DResUNet(deformable=False, ecase=False, fprm=True, **kwargs)  # type: ignore[arg-type]
