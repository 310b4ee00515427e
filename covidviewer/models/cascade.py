"""Cascade-SEMEnet: SEME-ResNet50 -> (viral) -> U-Net lung mask -> SEME-DenseNet169.

The Cascade-SEMEnet chest X-ray paper: stage 1 (SEME-ResNet50, CLAHE image) says normal, bacterial
or viral pneumonia; for viral cases the CLAHE image is masked with the U-Net lungs and stage 2
(SEME-DenseNet169) says COVID-19 or other viral pneumonia. See covidviewer.models.seme and
covidviewer.models.unet for the networks and their papers.

Output over ("normal", "bacterial pneumonia", "viral pneumonia (non-COVID)", "COVID-19"), with the
probabilities multiplied through the cascade: p(COVID-19) = p(viral) * p(COVID-19 | viral). Stage 2
always runs so all four probabilities are defined; ``CascadeRun.cascade_label`` keeps the paper's
hard rule (stage-1 argmax, refined by stage 2 only when stage 1 says viral).

``forward(stage1_input, stage2_input)`` returns *log*-probabilities, so ``softmax`` of the output
gives the cascade probabilities exactly as it gives a plain classifier's. Preprocessing is not
hidden in ``forward``: ``run(pixels, default_window)`` builds both inputs through the shared
``prepare_image`` path (the lung mask from the U-Net on the original grid) and returns every input,
grid and stage output, so the explain layer can run CAM on ``stage1`` or ``stage2``.

Weights: a composite has no weight folder of its own. ``spec.parts`` maps each attribute
to a registered model, and covidviewer.models.weights loads each part from that model's folder.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from covidviewer.imaging.preprocess import Grid2D, prepare_image
from covidviewer.imaging.window_presets import film_reading_window
from covidviewer.models.registry import create_model, register_model
from covidviewer.models.seme import PAPER, STAGE1_CLASSES, STAGE1_PREPROCESS, STAGE2_CLASSES
from covidviewer.models.spec import ExplainSpec, ModelSpec
from covidviewer.models.unet import lung_mask

CLASSES = ("normal", "bacterial pneumonia", "viral pneumonia (non-COVID)", "COVID-19")
PARTS = {"stage1": "seme_resnet50", "segmenter": "lung_unet", "stage2": "seme_densenet169"}
_VIRAL = STAGE1_CLASSES.index("viral pneumonia")
_COVID = STAGE2_CLASSES.index("COVID-19")
_OTHER_VIRAL = STAGE2_CLASSES.index("viral pneumonia (non-COVID)")


def cascade_log_probs(stage1_logits: torch.Tensor, stage2_logits: torch.Tensor) -> torch.Tensor:
    """(B, 3) and (B, 2) logits -> (B, 4) log-probabilities in ``CLASSES`` order (sums to 1 after exp)."""
    lp1 = F.log_softmax(stage1_logits.float(), dim=1)
    lp2 = F.log_softmax(stage2_logits.float(), dim=1)
    viral = lp1[:, _VIRAL]
    return torch.stack(
        [
            lp1[:, STAGE1_CLASSES.index("normal")],
            lp1[:, STAGE1_CLASSES.index("bacterial pneumonia")],
            viral + lp2[:, _OTHER_VIRAL],
            viral + lp2[:, _COVID],
        ],
        dim=1,
    )


@dataclass
class StageRun:
    """One stage's view of the image: its model input, the grid back to the original, its output."""

    input: torch.Tensor  # (1, C, h, w) on the model's device
    grid: Grid2D
    probabilities: np.ndarray  # over that stage's own classes


@dataclass
class CascadeRun:
    """Everything one cascade prediction used and produced (for display, JSON and CAM)."""

    probabilities: np.ndarray  # (4,) over CLASSES, multiplied through the cascade
    cascade_label: str  # the paper's hard decision
    stage1: StageRun
    stage2: StageRun
    lung_mask: np.ndarray  # (H, W) 0/1 lung mask on the original grid


class CascadeSEMEnet(nn.Module):
    """Composite holding ``stage1`` (SEME-ResNet50), ``segmenter`` (lung U-Net), ``stage2`` (SEME-DenseNet169)."""

    def __init__(self, stage1: nn.Module | None = None, segmenter: nn.Module | None = None, stage2: nn.Module | None = None):
        super().__init__()
        # create_model attaches each part's own ModelSpec (preprocessing, classes, CAM layers).
        self.stage1 = stage1 if stage1 is not None else create_model(PARTS["stage1"])
        self.segmenter = segmenter if segmenter is not None else create_model(PARTS["segmenter"])
        self.stage2 = stage2 if stage2 is not None else create_model(PARTS["stage2"])

    def forward(self, stage1_input: torch.Tensor, stage2_input: torch.Tensor) -> torch.Tensor:
        """(B, 4) log-probabilities from the stage-1 image and the lung-masked stage-2 image."""
        return cascade_log_probs(self.stage1(stage1_input), self.stage2(stage2_input))

    def prepare(self, pixels: np.ndarray, default_window: tuple[float, float], lung: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, Grid2D, np.ndarray, Grid2D]:
        """Original (H, W) image -> (lung mask, stage-1 input, grid, stage-2 input, grid), all via prepare_image.
        ``lung``: the film's lungs found beforehand (the trainer's erased-chest check keeps those of the film as sent);
        else the segmenter finds them."""
        window = film_reading_window(pixels, default_window)  # as the app's inputs.reading_window reads a film
        if lung is None:
            lung = self.lungs(pixels, default_window)
        # each stage's own (installed) spec says whether it masks or crops with the lungs
        x1, g1 = prepare_image(pixels, self.stage1.spec.preprocess, window, lung_mask=lung,
                               mask_image=self.stage1.spec.lung_mask == "image")
        x2, g2 = prepare_image(pixels, self.stage2.spec.preprocess, window, lung_mask=lung,
                               mask_image=self.stage2.spec.lung_mask == "image")
        return lung, x1, g1, x2, g2

    def lungs(self, pixels: np.ndarray, default_window: tuple[float, float]) -> np.ndarray:
        """(H, W) 0/1 lung mask the cascade's own segmenter finds on a film, read as ``prepare`` reads it."""
        return lung_mask(self.segmenter, pixels, film_reading_window(pixels, default_window))

    def run(self, pixels: np.ndarray, default_window: tuple[float, float], lung: np.ndarray | None = None) -> CascadeRun:
        """Predict one (H, W) radiograph (raw pixels + its default window), in eval mode, without gradients;
        ``lung`` as ``prepare`` takes it."""
        lung, x1, g1, x2, g2 = self.prepare(pixels, default_window, lung)
        param = next(self.parameters())
        t1 = torch.from_numpy(x1)[None].to(param.device)
        t2 = torch.from_numpy(x2)[None].to(param.device)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                l1, l2 = self.stage1(t1), self.stage2(t2)
        finally:
            self.train(was_training)
        probs = cascade_log_probs(l1, l2).exp()[0].cpu().numpy()
        p1 = F.softmax(l1.float(), dim=1)[0].cpu().numpy()
        p2 = F.softmax(l2.float(), dim=1)[0].cpu().numpy()
        return CascadeRun(
            probabilities=probs,
            cascade_label=hard_cascade_label(p1, p2),
            stage1=StageRun(t1, g1, p1),
            stage2=StageRun(t2, g2, p2),
            lung_mask=lung,
        )


def hard_cascade_label(stage1_probs: np.ndarray, stage2_probs: np.ndarray) -> str:
    """The paper's decision rule: stage-1 argmax; if it is viral, stage 2 decides COVID-19 or not."""
    first = int(np.argmax(stage1_probs))
    if first != _VIRAL:
        return CLASSES[first]  # normal and bacterial keep their index in CLASSES
    return CLASSES[3] if int(np.argmax(stage2_probs)) == _COVID else CLASSES[2]


@register_model(
    ModelSpec(
        name="cascade_semenet",
        version="1",
        task="cascade",
        modality="CXR",
        classes=CLASSES,
        # Stage 1's preprocessing; stage 2 and the segmenter use their own specs (see run()).
        preprocess=STAGE1_PREPROCESS,
        weights="",
        paper=PAPER,
        description="Cascade: SEME-ResNet50, then U-Net-masked SEME-DenseNet169 for viral cases (4 classes)",
        outputs="log_probabilities",
        inputs=("stage1", "stage2"),
        parts=dict(PARTS),
        explain=ExplainSpec(cam_layers=("stage1.layer4", "stage2.features.relu5")),
    )
)
def cascade_semenet(**kwargs: object) -> CascadeSEMEnet:
    return CascadeSEMEnet(**kwargs)  # type: ignore[arg-type]
