"""Plain CNN: 3x3 conv-BN-ReLU stages with stride-2 down-sampling, global average pooling, one linear layer.

Not a paper model. Two networks here use it: the input gate's image-kind model (``image_kind``) and
``small_cnn``, a small chest radiograph classifier (normal / pneumonia / COVID-19) kept beside the paper
networks as a reference, trained on the 2 CPU cores in minutes on DPN-SENet's model input. Trained without any film of
one adult source and scored on that source (issue 12's leave-one-source-out audit), the paper networks called 31-45% of
its adult normals COVID-19 (session 27, on a GPU); one start of this network 14-29% of RSNA's (three starts on one
split) and 29% of NIH's with its fine detail standardised (its card's ``detail_bands``; README, "The shortcut"). The
figure moved with the start more than with any recipe tried, so ``small_cnn`` ships as three starts in one module
(``members=3``, a deep ensemble, 1.5 M parameters; session 31).
"""
from __future__ import annotations

import torch
from torch import nn

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.models.registry import register_model
from covidviewer.models.spec import CellCentres, ExplainSpec, ModelSpec

CXR_CLASSES = ("normal", "pneumonia", "COVID-19")


class ConvBnAct(nn.Sequential):
    """3x3 conv (no bias) -> BN -> ReLU; ``groups`` > 1 keeps the members of an ensemble apart."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False, groups=groups),
            nn.BatchNorm2d(out_chs),
            nn.ReLU(inplace=True),
        )


class PlainCNN(nn.Module):
    """Plain CNN: a stride-2 stem, then per width a stride-2 conv and (but the last) a stride-1 conv.

    ``forward_features`` -> (B, members * widths[-1], H / 2**len(widths), W / 2**len(widths)); ``forward_head`` pools
    and classifies.

    ``members`` > 1: a deep ensemble (Lakshminarayanan et al. 2017) of that many networks of these widths, each with its
    own random start, side by side in one module: the stem's channels are the members' stems, every later conv is
    grouped so that a member sees only its own channels, and ``fc`` holds the members' classifiers side by side. The
    output is the mean of the members' logits, which is ``fc`` on the pooled features divided by ``members``, so a CAM
    method reads the ensemble as one network (one feature map, one classifier). Training scores each member on its own
    (``forward_members``; ``trainer.tasks``): members trained through their mean would learn as one wider network.
    The members share the classifier's bias, which a mean cannot tell apart.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 4,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        drop_rate: float = 0.2,
        members: int = 1,
    ):
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be at least 1, not {members}")
        k = self.members = int(members)
        layers: list[nn.Module] = [ConvBnAct(in_chans, k * widths[0], stride=2)]
        for i, (prev, width) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(ConvBnAct(k * prev, k * width, stride=2, groups=k))
            if i < len(widths) - 2:
                layers.append(ConvBnAct(k * width, k * width, groups=k))
        self.features = nn.Sequential(*layers)
        self.num_features = k * widths[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(k * widths[-1], num_classes)
        kaiming_normal_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.fc(self.drop(x) / self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_members(self, x: torch.Tensor) -> torch.Tensor:
        """(members, B, classes): each member's own logits; their mean is ``forward``'s output."""
        pooled = self.drop(self.pool(self.forward_features(x)).flatten(1))
        per_member = pooled.view(pooled.shape[0], self.members, -1)
        weight = self.fc.weight.view(self.fc.out_features, self.members, -1)
        return torch.einsum("bkf,ckf->kbc", per_member, weight) + self.fc.bias


@register_model(
    ModelSpec(
        name="small_cnn",
        version="1",
        task="classification",
        modality="CXR",
        classes=CXR_CLASSES,
        # DPN-SENet's model input (its shipped card's preprocessing), one grey channel; the recipe adds the detail
        # standardisation (``detail_bands``), which the card carries
        preprocess=Preprocess(
            kind="cxr",
            size=(224, 224),
            channels=1,
            clahe=True,
            fit="stretch",
            lung_crop=True,
            intensity="percentile",
            max_side=224,
            max_side_above=512,
            max_side_of="shorter",
            grey_levels=256,
        ),
        weights="small_cnn",
        paper="none: a small plain CNN of our own (3x3 conv-BN-ReLU stages, global average pooling, linear), three "
        "random starts averaged, a reference beside the paper networks",
        description="Small plain CNN, not from a paper, three starts averaged (normal / pneumonia / COVID-19): a reference "
        "for the paper networks",
        # five stride-2 3x3 convs with padding 1: cell i on 32 i (declared, so the first map skips the probe)
        explain=ExplainSpec(cam_layers=("features",), classifier="fc",
                            cell_centres={"features": CellCentres(origin=(0.0, 0.0), stride=(32.0, 32.0))}),
    )
)
def small_cnn(**kwargs: object) -> PlainCNN:
    # One network by default, as every run and card before session 31 was built: the shipped set is three starts averaged
    # (one start's held-out figure moved by 15 points with its random start), which its recipe's and card's
    # model_kwargs say (members = 3), and the app builds a set as its card records.
    defaults = {"num_classes": len(CXR_CLASSES), "widths": (24, 32, 64, 128, 192), "drop_rate": 0.3}
    return PlainCNN(**{**defaults, **kwargs})  # type: ignore[arg-type]
