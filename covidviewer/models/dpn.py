"""DPN-SENet: Dual Path Network 92 with squeeze-and-excitation, for 4-class chest X-rays.

Backbone: Chen, Y., Li, J., Xiao, H., Jin, X., Yan, S., Feng, J. "Dual Path Networks", NeurIPS 2017
(arXiv:1707.01629): a 7x7/2 stem conv + 3x3/2 max-pool, then four stages of pre-activation
dual-path blocks (k_sec 3/4/20/3, inc 16/32/24/128, 32 groups, k_r 96). Each block sums its new
features into a residual path and concatenates ``inc`` new channels onto a densely connected path.
Attention: Hu, J., Shen, L., Sun, G. "Squeeze-and-Excitation Networks", CVPR 2018: an SE block
(reduction 16) recalibrates every dual-path block's output channels.
Application: DPN-SENet for COVID-19 / normal / bacterial / viral pneumonia chest X-rays, input 224.

Where the SE sits: on the block's new features (the last 1x1 conv's output, before the split into
the residual and dense parts), the SE-ResNet/SE-ResNeXt placement. Applying it after the merge
would re-scale the whole accumulated dense path once per block.

Layout follows timm's DPN (``features`` holds ``conv1_1`` .. ``conv5_bn_ac``) so module paths read
the same; ``features.conv5_bn_ac`` (BN + ReLU over the last stage's concatenated paths, 2688 x 7 x 7
at 224) is the CAM layer. Weights: Kaiming-normal convs, BN (1, 0); never trained here.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.layers.heads import ClassifierHead
from covidviewer.models.layers.lung_gate import LungMaskGate
from covidviewer.models.layers.se import SqueezeExcite
from covidviewer.models.registry import register_model
from covidviewer.models.spec import CellCentres, ExplainSpec, ModelSpec

CLASSES = ("COVID-19", "normal", "bacterial pneumonia", "viral pneumonia")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS = 1e-3  # the MXNet reference implementation's value

DualPath = tuple[torch.Tensor, torch.Tensor]


class BnActConv2d(nn.Module):
    """Pre-activation unit: BN -> ReLU -> conv (DPN's building brick)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_chs, eps=BN_EPS)
        self.act = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding=kernel_size // 2, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.act(self.bn(x)))


class CatBnAct(nn.Module):
    """Concatenate the two paths (if given as a pair), then BN -> ReLU: the final feature map."""

    def __init__(self, in_chs: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_chs, eps=BN_EPS)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor | DualPath) -> torch.Tensor:
        if isinstance(x, tuple):
            x = torch.cat(x, dim=1)
        return self.act(self.bn(x))


class DualPathBlock(nn.Module):
    """1x1 -> grouped 3x3 -> 1x1 bottleneck whose SE-recalibrated output feeds both paths.

    block_type: "proj" (first block: project the input into the two paths), "down" (projection with
    stride 2, first block of stages 3-5) or "normal" (input is already a (residual, dense) pair).
    Returns (residual path with ``num_1x1_c`` channels, dense path grown by ``inc``).
    """

    def __init__(
        self,
        in_chs: int,
        num_1x1_a: int,
        num_3x3_b: int,
        num_1x1_c: int,
        inc: int,
        groups: int,
        block_type: str = "normal",
        se_reduction: int = 16,
    ):
        super().__init__()
        if block_type not in ("proj", "down", "normal"):
            raise ValueError(f"block_type {block_type!r} not in ('proj', 'down', 'normal')")
        self.num_1x1_c = num_1x1_c
        stride = 2 if block_type == "down" else 1
        self.c1x1_w = (
            BnActConv2d(in_chs, num_1x1_c + 2 * inc, kernel_size=1, stride=stride) if block_type != "normal" else None
        )
        self.c1x1_a = BnActConv2d(in_chs, num_1x1_a, kernel_size=1)
        self.c3x3_b = BnActConv2d(num_1x1_a, num_3x3_b, kernel_size=3, stride=stride, groups=groups)
        self.c1x1_c = BnActConv2d(num_3x3_b, num_1x1_c + inc, kernel_size=1)
        self.se = SqueezeExcite(num_1x1_c + inc, spatial_dims=2, reduction=se_reduction)

    def forward(self, x: torch.Tensor | DualPath) -> DualPath:
        x_in = torch.cat(x, dim=1) if isinstance(x, tuple) else x
        if self.c1x1_w is None:
            if not isinstance(x, tuple):
                raise TypeError("a 'normal' dual-path block needs a (residual, dense) pair")
            x_res, x_dense = x
        else:
            x_s = self.c1x1_w(x_in)
            x_res, x_dense = x_s[:, : self.num_1x1_c], x_s[:, self.num_1x1_c :]
        out = self.se(self.c1x1_c(self.c3x3_b(self.c1x1_a(x_in))))
        resid = x_res + out[:, : self.num_1x1_c]
        dense = torch.cat([x_dense, out[:, self.num_1x1_c :]], dim=1)
        return resid, dense


class DPNSE(nn.Module):
    """DPN with an SE block in every dual-path block, GAP + linear head; given the lung mask
    (``forward(x, lung_mask)``, a recipe's ``input.lung_mask = "forward_arg"``), GAP over the lung cells only."""

    def __init__(
        self,
        k_sec: tuple[int, int, int, int] = (3, 4, 20, 3),
        inc_sec: tuple[int, int, int, int] = (16, 32, 24, 128),
        k_r: int = 96,
        groups: int = 32,
        num_init_features: int = 64,
        num_classes: int = len(CLASSES),
        in_chans: int = 3,
        se_reduction: int = 16,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        blocks["conv1_1"] = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_chans, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
                bn=nn.BatchNorm2d(num_init_features, eps=BN_EPS),
                act=nn.ReLU(inplace=True),
            )
        )
        blocks["conv1_pool"] = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_chs = num_init_features
        for stage, (n_blocks, inc) in enumerate(zip(k_sec, inc_sec)):
            bw = 256 * 2**stage  # residual-path width: 256, 512, 1024, 2048
            r = k_r * 2**stage  # bottleneck width: 96, 192, 384, 768 for DPN-92
            first_type = "proj" if stage == 0 else "down"
            blocks[f"conv{stage + 2}_1"] = DualPathBlock(in_chs, r, r, bw, inc, groups, first_type, se_reduction)
            in_chs = bw + 3 * inc
            for i in range(2, n_blocks + 1):
                blocks[f"conv{stage + 2}_{i}"] = DualPathBlock(in_chs, r, r, bw, inc, groups, "normal", se_reduction)
                in_chs += inc
        blocks["conv5_bn_ac"] = CatBnAct(in_chs)
        self.features = nn.Sequential(blocks)
        # no parameters: sets trained before it load unchanged, and without a mask it passes the map through
        self.lung_gate = LungMaskGate(renormalise=True)
        self.num_features = in_chs
        self.head = ClassifierHead(in_chs, num_classes, spatial_dims=2, drop_rate=drop_rate)
        kaiming_normal_init(self, linear_std=0.01)

    def forward_features(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) [+ (B, 1, H, W) lung mask: pool over the lung cells only] -> (B, 2688, H/32, W/32)."""
        return self.lung_gate(self.features(x), lung_mask)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, lung_mask))



@register_model(
    ModelSpec(
        name="dpn92_se",
        version="1",
        task="classification",
        modality="CXR",
        classes=CLASSES,
        # Grey radiograph replicated to 3 channels with ImageNet statistics; short side to 224, centre crop.
        preprocess=Preprocess(kind="cxr", size=(224, 224), channels=3, mean=IMAGENET_MEAN, std=IMAGENET_STD, fit="crop"),
        weights="dpn92_se",
        paper="DPN-SENet (DPN-92 + SE) for COVID-19 chest X-ray classification; DPN: Chen et al., "
        "Dual Path Networks, NeurIPS 2017; SE: Hu et al., CVPR 2018",
        description="DPN-92 with squeeze-excitation in every dual-path block (COVID-19 / normal / bacterial / viral)",
        # strided convolutions: cell i is centred on input pixel 32 i. Declared so the first map skips the probe
        # (covidviewer.explain.geometry, about a second in the worker); a test checks it against the probe.
        # lung_gate: the last map as the head pools it (with the lung mask, its lung cells only; without, the same
        # as conv5_bn_ac), so the map shows where the answer comes from
        explain=ExplainSpec(cam_layers=("lung_gate", "features.conv5_bn_ac"), classifier="head.fc",
                            cell_centres={layer: CellCentres(origin=(0.0, 0.0), stride=(32.0, 32.0))
                                          for layer in ("lung_gate", "features.conv5_bn_ac")}),
    ),
    takes_lung_mask=True,
)
def dpn92_se(**kwargs: object) -> DPNSE:
    return DPNSE(k_sec=(3, 4, 20, 3), inc_sec=(16, 32, 24, 128), k_r=96, groups=32, num_init_features=64, **kwargs)  # type: ignore[arg-type]
