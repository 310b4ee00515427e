"""The mirror check: a frontal chest film stored mirrored is read by the classifiers mirrored back.

Every chest X-ray classifier here was trained on films hung as read (the patient's right on the viewer's
left) and answers differently on the same film mirrored (session 35: the cascade changed its answer on 39 of
80 films, DPN-SENet and ``small_cnn`` on 19 each, VGG-16-GA on 10). A PNG or JPEG says nothing of its sides,
and a scanned or exported film can be mirrored. The mirror model (``covidviewer.models.film_mirror``) is asked
once per film; where it is sure the film is mirrored (``MIRRORED_AT``), every classifier reads the film
mirrored back, and its maps, analysed box and lung mask are mirrored again onto the film as stored, so the
viewer draws them where the reader looks. Each answer then says so; a heart on the patient's right
(dextrocardia) looks the same to the check, and the note names both. Below ``MIRRORED_AT`` nothing changes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from covidviewer.inference.image_kind import gate_input
from covidviewer.inference.results import ModelResult

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.explain.base import Explanation
    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

MIRROR_MODEL = "film_mirror"
#: p(mirrored) from which a film is read mirrored back (session 35, on the 425 validation films of
#: trainer/recipes/film_mirror.toml: 1 film as hung reached it (a child's, p 1.00), and 93% of the same films mirrored);
#: most films a reader opens are hung as read, and one misread as mirrored is read wrong, so the bar is high
MIRRORED_AT = 0.98
#: p(mirrored) from which an answer on the film as stored says that it may be mirrored
MAYBE_MIRRORED_AT = 0.5
#: what a mirrored film does to the answers (session 35, 80 films of both packs, each as hung and mirrored)
MIRRORED_EFFECT = "the same film mirrored changed the cascade's answer on 39 of 80 films and DPN-SENet's on 19"


@dataclass(frozen=True)
class FilmSide:
    """The mirror model's verdict on one frontal film: p(mirrored), and whether it is read mirrored back."""

    p_mirrored: float

    @property
    def mirrored(self) -> bool:
        return self.p_mirrored >= MIRRORED_AT

    @property
    def unsure(self) -> bool:
        return MAYBE_MIRRORED_AT <= self.p_mirrored < MIRRORED_AT

    def to_json(self) -> dict[str, float | bool]:
        return {"p_mirrored": round(self.p_mirrored, 4), "read_mirrored_back": self.mirrored}

    def summary(self) -> str:
        """A few words beside the image kind ("read mirrored back (mirror check 0.99)"); "" for a film as hung."""
        if not (self.mirrored or self.unsure):
            return ""
        return f"{'read mirrored back' if self.mirrored else 'may be mirrored'} (mirror check {self.p_mirrored:.2f})"

    def note(self) -> str:
        """What an answer says of the film's sides ("" when the film looks hung as read)."""
        if self.mirrored:
            return (f"mirror check: the heart looks to be on the viewer's left (p {self.p_mirrored:.2f} that the film is "
                    "mirrored): a film stored mirrored, or a heart on the patient's right (dextrocardia); the models "
                    f"were trained on films hung with the patient's right on the viewer's left, and {MIRRORED_EFFECT}; "
                    "this answer is on the film mirrored back (its map is drawn on the film as stored)")
        if self.unsure:
            return (f"mirror check: the film may be stored mirrored (p {self.p_mirrored:.2f}; it is read mirrored back "
                    f"from {MIRRORED_AT:.2f}); {MIRRORED_EFFECT}; this answer is on the film as stored: if its heart is "
                    "on the viewer's left, read the answer with care")
        return ""


def classify_film_side(model: "nn.Module", spec: "ModelSpec", volume: "Volume", x: np.ndarray | None = None) -> FilmSide:
    """The mirror model's verdict on the one plane of a 2D grey ``volume`` (``x``: its ``gate_input`` where the
    image-kind model already made it)."""
    import torch

    x = gate_input(volume, spec) if x is None else x
    param = next(model.parameters())
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None].to(device=param.device, dtype=param.dtype))
    probs = torch.softmax(logits[0].float(), dim=0).cpu().numpy()
    return FilmSide(p_mirrored=float(probs[list(spec.classes).index("mirrored")]))


def mirrored_volume(volume: "Volume") -> "Volume":
    """The film mirrored left-right (a new Volume; the loaded one is left as it is)."""
    return replace(volume, pixels=np.ascontiguousarray(volume.pixels[..., ::-1]), warnings=list(volume.warnings))


def _mirror_box(box: tuple[int, int, int, int] | None, width: int) -> tuple[int, int, int, int] | None:
    if box is None:
        return None
    y0, x0, y1, x1 = box
    return (y0, width - x1, y1, width - x0)


def _mirror_explanation(explanation: "Explanation | None") -> "Explanation | None":
    if explanation is None:
        return None
    width = explanation.heatmap.shape[-1]
    return replace(explanation, heatmap=np.ascontiguousarray(explanation.heatmap[..., ::-1]),
                   analysed_box=_mirror_box(explanation.analysed_box, width), details=dict(explanation.details))


def with_film_side_note(result: ModelResult, side: FilmSide | None) -> ModelResult:
    """``result`` as the predictor hands it on: read mirrored back, or with the unsure note, or as it is."""
    if side is None or not result.ok:
        return result
    if side.mirrored:
        return mirrored_back(result, side)
    return replace(result, warnings=[*result.warnings, side.note()]) if side.unsure else result


def mirrored_back(result: ModelResult, side: FilmSide, noted: bool = True) -> ModelResult:
    """A copy of ``result`` (computed on the film mirrored back) whose maps, a cascade's stages' included, lie
    on the film as stored; an answer gets the note. The cached result is left as the model gave it."""
    stages = [mirrored_back(stage, side, noted=False) for stage in result.stages]
    warnings = list(result.warnings) + ([side.note()] if noted and result.ok and side.note() else [])
    return replace(result, explanation=_mirror_explanation(result.explanation), stages=stages, warnings=warnings)


def mirrored_mask(mask: np.ndarray | None) -> np.ndarray | None:
    """A lung mask of the film mirrored back, on the film as stored."""
    return None if mask is None else np.ascontiguousarray(mask[..., ::-1])
