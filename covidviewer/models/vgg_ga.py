"""Guided-attention VGG-16 for chest X-rays (normal / pneumonia / COVID-19).

Danilov, V. V. et al. "Indirect supervision applied to COVID-19 and pneumonia classification",
Informatics in Medicine Unlocked 28:100835 (2022). A VGG-16 conv body whose output features are
multiplied by the lung mask (from the lung U-Net, resized to the 7 x 7 feature grid), then
GAP -> Dense 128 ELU -> Dropout 0.10 -> Dense 64 ELU -> Dropout 0.05 -> Dense 3; input 224 x 224 x 3.
Training adds the attention-mining loss of GAIN: Li, K. et al. "Tell Me Where to Look: Guided
Attention Inference Network", CVPR 2018, eq. 5. A trainer step::

    out = gain_forward(model, images, targets, lung_masks)          # two streams, Grad-CAM between
    loss = guided_attention_loss(out.logits, targets, out.am_scores, alpha)   # CE + alpha * L_am

Forward: ``model(image, lung_mask=None)``; image (B, 3, 224, 224) normalised per the spec,
lung_mask (B, 1, H, W) in [0, 1] on the same input grid. ``None`` means "no mask" (all ones): the app
always passes the U-Net mask (``spec.lung_mask == "forward_arg"``); ``None`` exists for tools that call
``model(x)`` with one argument.

CAM: ``mask_gate`` outputs the masked 512 x 7 x 7 features the head sees (first cam layer);
``features.29`` is the last conv's ReLU (14 x 14, before the mask). A CAM library that calls
``model(x)`` must bind the mask first, e.g. a wrapper module whose ``forward(x)`` returns
``vgg(x, mask)`` (the cam layer path then gains the wrapper's attribute prefix).
Untrained: convs Kaiming normal (torchvision's VGG init), dense layers Glorot uniform (Keras' Dense
default, as in the paper's Keras model). torchvision's N(0, 0.01) suits its 4096-wide head; on this
512-128-64 head it shrinks the gradient reaching the convs ~100x and training from random weights
stalled at the class prior.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from covidviewer.models.layers.init import kaiming_normal_init
from covidviewer.models.layers.lung_gate import LungMaskGate
from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models.registry import register_model
from covidviewer.models.spec import CellCentres, ExplainSpec, ModelSpec

CLASSES = ("normal", "pneumonia", "COVID-19")
# VGG-16 ("D"): numbers are 3x3 conv widths, "M" a 2x2 max-pool; module indices match torchvision's.
VGG16_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"
)


def vgg_body(cfg: tuple[int | str, ...] = VGG16_CFG, in_chans: int = 3) -> nn.Sequential:
    """The VGG conv body (torchvision's ``vgg16().features`` layout, so ``features.N`` paths match)."""
    layers: list[nn.Module] = []
    ch = in_chans
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(ch, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            ch = int(v)
    return nn.Sequential(*layers)


class VGG16GA(nn.Module):
    """VGG-16 body -> lung-mask gate -> GAP -> two ELU dense layers with dropout -> 3 logits."""

    def __init__(
        self, num_classes: int = len(CLASSES), in_chans: int = 3, drop_rates: tuple[float, float] = (0.10, 0.05)
    ):
        super().__init__()
        self.features = vgg_body(VGG16_CFG, in_chans)
        self.mask_gate = LungMaskGate()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(512, 128)
        self.drop1 = nn.Dropout(drop_rates[0])
        self.fc2 = nn.Linear(128, 64)
        self.drop2 = nn.Dropout(drop_rates[1])
        self.fc3 = nn.Linear(64, num_classes)
        self.act = nn.ELU(inplace=True)
        self.num_features = 512
        kaiming_normal_init(self)
        for layer in (self.fc1, self.fc2, self.fc3):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward_features(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) [+ mask] -> masked (B, 512, H/32, W/32) features."""
        if x.dim() != 4 or min(x.shape[-2:]) < 32:
            raise ValueError(f"VGG16GA expects (B, C, H, W) with H, W >= 32, got {tuple(x.shape)}")
        return self.mask_gate(self.features(x), lung_mask)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop1(self.act(self.fc1(self.global_pool(x).flatten(1))))
        return self.fc3(self.drop2(self.act(self.fc2(x))))

    def forward(self, x: torch.Tensor, lung_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, lung_mask))



# --------------------------------------------------------------------------- GAIN training losses
class GainOutput(NamedTuple):
    """One GAIN step: classification logits, the Grad-CAM attention (B, 1, h, w) in [0, 1], the
    images with the attended region erased, and the target-class probability on them."""

    logits: torch.Tensor
    attention: torch.Tensor
    masked_images: torch.Tensor
    am_scores: torch.Tensor


def gradcam_attention(
    features: torch.Tensor, target_scores: torch.Tensor, create_graph: bool = True
) -> torch.Tensor:
    """Grad-CAM of ``target_scores`` (B,) on ``features`` (B, C, h, w), min-max scaled per image.

    ``create_graph`` keeps the map differentiable so the attention-mining loss can train the
    network through it, as GAIN does.
    """
    grads = torch.autograd.grad(target_scores.sum(), features, create_graph=create_graph)[0]
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * features).sum(dim=1, keepdim=True))
    flat = cam.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    return (cam - low) / (high - low + 1e-8)


def soft_mask(attention: torch.Tensor, sigma: float = 0.5, omega: float = 10.0) -> torch.Tensor:
    """GAIN's differentiable threshold T(A) = sigmoid(omega * (A - sigma))."""
    return torch.sigmoid(omega * (attention - sigma))


def erase_attended(
    images: torch.Tensor, attention: torch.Tensor, sigma: float = 0.5, omega: float = 10.0
) -> torch.Tensor:
    """I* = I - T(A) * I, with A up-sampled to the image grid (GAIN eq. 3).

    Images are normalised, so erased pixels become the normalisation mean, as in GAIN.
    """
    a = F.interpolate(attention, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return images - soft_mask(a, sigma, omega) * images


def gain_forward(
    model: VGG16GA,
    images: torch.Tensor,
    targets: torch.Tensor,
    lung_mask: torch.Tensor | None = None,
    sigma: float = 0.5,
    omega: float = 10.0,
) -> GainOutput:
    """Both GAIN streams: classify, Grad-CAM the target class, erase it, classify again.

    ``am_scores`` is the softmax probability of each image's target class on I*; GAIN penalises it
    so the attention has to cover *all* the evidence for the class.
    """
    training_graph = torch.is_grad_enabled()
    with torch.enable_grad():  # Grad-CAM needs gradients even in a no_grad validation loop
        features = model.forward_features(images, lung_mask)
        if not features.requires_grad:
            features.requires_grad_()
        logits = model.forward_head(features)
        target_scores = logits.gather(1, targets.view(-1, 1)).squeeze(1)
        attention = gradcam_attention(features, target_scores, create_graph=training_graph)
    if not training_graph:
        logits, attention = logits.detach(), attention.detach()
    masked = erase_attended(images, attention, sigma, omega)
    am_logits = model(masked, lung_mask)
    am_scores = am_logits.softmax(dim=1).gather(1, targets.view(-1, 1)).squeeze(1)
    return GainOutput(logits, attention, masked, am_scores)


def attention_mining_loss(am_scores: torch.Tensor) -> torch.Tensor:
    """GAIN eq. 5: L_am = (1/n) sum_c s^c(I*), the mean target-class score left after erasing."""
    return am_scores.mean()


def guided_attention_loss(
    logits: torch.Tensor, targets: torch.Tensor, am_scores: torch.Tensor, alpha: float
) -> torch.Tensor:
    """L = L_cls + alpha * L_am: cross-entropy on the original images plus attention mining."""
    return F.cross_entropy(logits, targets) + alpha * attention_mining_loss(am_scores)


# --------------------------------------------------------------------------- registry
@register_model(
    ModelSpec(
        name="vgg16_ga",
        version="1",
        task="classification",
        modality="CXR",
        classes=CLASSES,
        preprocess=Preprocess(
            kind="cxr",
            size=(224, 224),
            channels=3,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
        ),
        # The mask goes to the features (mask_gate), not the image.
        lung_mask="forward_arg",
        weights="vgg16_ga",
        paper="Danilov et al. 2022, Indirect supervision applied to COVID-19 and pneumonia classification "
        "(Inform. Med. Unlocked 28:100835); GAIN loss: Li et al. CVPR 2018",
        description="VGG-16 with lung-masked features and GAIN attention mining (normal / pneumonia / COVID-19)",
        # 2x2 max-pools: cell i on 32 i + 15.5 (declared, so the first map skips the probe; tested against it)
        explain=ExplainSpec(cam_layers=("mask_gate", "features.29"), classifier="fc3",
                            cell_centres={"mask_gate": CellCentres(origin=(15.5, 15.5), stride=(32.0, 32.0))}),
    )
)
def vgg16_ga(**kwargs: object) -> VGG16GA:
    return VGG16GA(**kwargs)  # type: ignore[arg-type]
