"""SEME networks: SE-ResNet50 and SE-DenseNet169 with MoEx, the two stages of Cascade-SEMEnet.

Application: the Cascade-SEMEnet chest X-ray papers: stage 1 (SEME-ResNet50) separates normal,
bacterial and viral pneumonia on 512 x 512 CLAHE-enhanced radiographs; stage 2 (SEME-DenseNet169)
separates COVID-19 from other viral pneumonia on U-Net lung-masked CLAHE images. Both use
squeeze-excitation, global average pooling before the classifier (so the 512 input keeps its
detail), MoEx after the first convolution, and He-uniform initialisation (trained from scratch).

Building blocks from:
- He, K., Zhang, X., Ren, S., Sun, J. "Deep Residual Learning for Image Recognition", CVPR 2016
  (ResNet-50 bottlenecks, stride on the 3x3 conv as in torchvision's "v1.5").
- Huang, G., Liu, Z., van der Maaten, L., Weinberger, K. Q. "Densely Connected Convolutional
  Networks", CVPR 2017 (DenseNet-169: growth 32, blocks 6/12/32/32, bottleneck width 4 x growth,
  compression 0.5).
- Hu, J., Shen, L., Sun, G. "Squeeze-and-Excitation Networks", CVPR 2018 (reduction 16; in every
  bottleneck before the identity addition; after each dense block for the DenseNet).
- Li, B. et al. "On Feature Normalization and Data Augmentation", 2020 (MoEx; see layers/moex.py).

MoEx sits right after the first convolution (before its BatchNorm), where the MoEx reference code
applies it for ResNets. It is the identity unless ``forward_with_moex`` arms it during training.
CAM layers: ``layer4`` (2048 x 16 x 16 at 512) and ``features.relu5`` (1664 x 16 x 16 at 512).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.layers.heads import ClassifierHead
from covidviewer.models.layers.moex import MomentExchange
from covidviewer.models.layers.se import SqueezeExcite
from covidviewer.models.registry import register_model
from covidviewer.models.spec import CellCentres, ExplainSpec, ModelSpec

STAGE1_CLASSES = ("normal", "bacterial pneumonia", "viral pneumonia")
STAGE2_CLASSES = ("COVID-19", "viral pneumonia (non-COVID)")
PAPER = (
    "Cascade-SEMEnet (SEME-ResNet50 + SEME-DenseNet169 with MoEx, U-Net lung masks, CLAHE) for chest X-rays; "
    "MoEx: Li et al. 2020, On Feature Normalization and Data Augmentation; SE: Hu et al. CVPR 2018"
)


# --------------------------------------------------------------------------- SE-ResNet50
class SEBottleneck(nn.Module):
    """ResNet bottleneck 1x1 -> 3x3 (stride) -> 1x1 (x4), SE on the branch, + shortcut, ReLU."""

    expansion = 4

    def __init__(self, in_chs: int, width: int, stride: int = 1, se_reduction: int = 16):
        super().__init__()
        out_chs = width * self.expansion
        self.conv1 = nn.Conv2d(in_chs, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.se = SqueezeExcite(out_chs, spatial_dims=2, reduction=se_reduction)
        self.act = nn.ReLU(inplace=True)
        self.downsample = (
            nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False), nn.BatchNorm2d(out_chs))
            if stride != 1 or in_chs != out_chs
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.act(out + shortcut)


class SEMEResNet(nn.Module):
    """SE-ResNet with MoEx after the stem conv and a GAP + linear head."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (3, 4, 6, 3),
        num_classes: int = len(STAGE1_CLASSES),
        in_chans: int = 1,
        se_reduction: int = 16,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.moex = MomentExchange()
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_chs = 64
        for i, n_blocks in enumerate(layers):
            width = 64 * 2**i
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (i > 0 and b == 0) else 1
                blocks.append(SEBottleneck(in_chs, width, stride, se_reduction))
                in_chs = width * SEBottleneck.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_features = in_chs
        self.head = ClassifierHead(in_chs, num_classes, spatial_dims=2, drop_rate=drop_rate)
        _he_uniform_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.moex(self.conv1(x)))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --------------------------------------------------------------------------- SE-DenseNet169
class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (bn_size x growth) -> BN-ReLU-3x3 conv (growth); output is concatenated on."""

    def __init__(self, in_chs: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.Module):
    """``num_layers`` dense layers, each seeing the concatenation of all earlier outputs."""

    def __init__(self, num_layers: int, in_chs: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(in_chs + i * growth_rate, growth_rate, bn_size) for i in range(num_layers))
        self.out_chs = in_chs + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv (compression) -> 2x2 average pool."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__(
            OrderedDict(
                norm=nn.BatchNorm2d(in_chs),
                relu=nn.ReLU(inplace=True),
                conv=nn.Conv2d(in_chs, out_chs, 1, bias=False),
                pool=nn.AvgPool2d(kernel_size=2, stride=2),
            )
        )


class SEMEDenseNet(nn.Module):
    """DenseNet with SE after every dense block, MoEx after conv0, and a GAP + linear head."""

    def __init__(
        self,
        block_config: tuple[int, ...] = (6, 12, 32, 32),
        growth_rate: int = 32,
        num_init_features: int = 64,
        bn_size: int = 4,
        num_classes: int = len(STAGE2_CLASSES),
        in_chans: int = 1,
        se_reduction: int = 16,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        f: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_chans, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
            moex0=MomentExchange(),
            norm0=nn.BatchNorm2d(num_init_features),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        chs = num_init_features
        for i, n_layers in enumerate(block_config):
            block = DenseBlock(n_layers, chs, growth_rate, bn_size)
            chs = block.out_chs
            f[f"denseblock{i + 1}"] = block
            f[f"se{i + 1}"] = SqueezeExcite(chs, spatial_dims=2, reduction=se_reduction)
            if i != len(block_config) - 1:
                f[f"transition{i + 1}"] = Transition(chs, chs // 2)
                chs //= 2
        f["norm5"] = nn.BatchNorm2d(chs)
        f["relu5"] = nn.ReLU(inplace=True)
        self.features = nn.Sequential(f)
        self.num_features = chs
        self.head = ClassifierHead(chs, num_classes, spatial_dims=2, drop_rate=drop_rate)
        _he_uniform_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _he_uniform_init(model: nn.Module) -> None:
    """He-uniform weights (the papers train from scratch, no ImageNet), zero biases, BN (1, 0)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- registry
# The papers resize whole radiographs to 512 x 512 (stretch: no lung field is cropped away) and
# train from scratch on grey images, hence one channel with mean/std 0.5.
STAGE1_PREPROCESS = Preprocess(kind="cxr", size=(512, 512), channels=1, clahe=True, fit="stretch")
STAGE2_PREPROCESS = Preprocess(kind="cxr", size=(512, 512), channels=1, clahe=True, fit="stretch")


@register_model(
    ModelSpec(
        name="seme_resnet50",
        # version 2: COVID-19 films are trained as viral pneumonia (version 1 never saw one, so it
        # could not route COVID-19 to stage 2); its weights live in their own folder
        version="2",
        task="classification",
        modality="CXR",
        classes=STAGE1_CLASSES,
        preprocess=STAGE1_PREPROCESS,
        weights="seme_resnet50_v2",
        paper=PAPER,
        description="Cascade stage 1: SE-ResNet50 + MoEx (normal / bacterial / viral pneumonia, COVID-19 included)",
        # strided convolutions: cell i on 32 i (declared, so the first map skips the probe; tested against it)
        explain=ExplainSpec(cam_layers=("layer4",), classifier="head.fc",
                            cell_centres={"layer4": CellCentres(origin=(0.0, 0.0), stride=(32.0, 32.0))}),
    )
)
def seme_resnet50(**kwargs: object) -> SEMEResNet:
    return SEMEResNet(layers=(3, 4, 6, 3), **kwargs)  # type: ignore[arg-type]


@register_model(
    ModelSpec(
        name="seme_densenet169",
        version="1",
        task="classification",
        modality="CXR",
        classes=STAGE2_CLASSES,
        preprocess=STAGE2_PREPROCESS,
        lung_mask="image",
        weights="seme_densenet169",
        paper=PAPER,
        description="Cascade stage 2: SE-DenseNet169 + MoEx on lung-masked CLAHE images (COVID-19 / other viral)",
        # 2x2 average-pool transitions after a strided stem: cell i on 32 i + 14 (declared; tested against the probe)
        explain=ExplainSpec(cam_layers=("features.relu5",), classifier="head.fc",
                            cell_centres={"features.relu5": CellCentres(origin=(14.0, 14.0), stride=(32.0, 32.0))}),
    )
)
def seme_densenet169(**kwargs: object) -> SEMEDenseNet:
    return SEMEDenseNet(block_config=(6, 12, 32, 32), growth_rate=32, num_init_features=64, **kwargs)  # type: ignore[arg-type]
