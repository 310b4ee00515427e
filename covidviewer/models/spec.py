"""ModelSpec: the configuration that travels with a network's weights (timm's pretrained cfg).

Everything the app and the trainer need to feed a model correctly lives here, so both derive
their preprocessing from one place (covidviewer.imaging.preprocess).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from covidviewer.imaging.preprocess import Preprocess

#: ANY_2D: a helper that reads any single 2D image (the input gate's image-kind model), not a COVID-19 classifier
MODALITIES = ("CXR", "CT_SLICE", "CT_VOLUME", "ANY_2D")
TASKS = ("classification", "segmentation", "cascade")


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model is and how to feed it.

    name: registry name (``create_model(name)``); version: bumped when weights change meaning.
    classes: output order of the logits; a single-logit binary model lists two classes
        (negative first) and sets ``binary_logit``.
    cam_layers: dotted module paths (``model.get_submodule``) whose activations CAM methods use.
    weights: folder name under ``resources/weights/`` holding the safetensors shards + sidecar.
    ablation_of: for an ablation of a paper's model (the paper's network with a module taken out), that
        model's name; the viewer lists ablations under a fold beneath it.
    """

    name: str
    version: str
    task: str
    modality: str
    classes: tuple[str, ...]
    preprocess: Preprocess
    cam_layers: tuple[str, ...] = ()
    needs_lung_mask: bool = False
    binary_logit: bool = False
    weights: str = ""
    paper: str = ""
    description: str = ""
    ablation_of: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"{self.name}: modality {self.modality!r} not in {MODALITIES}")
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task {self.task!r} not in {TASKS}")

    @property
    def num_outputs(self) -> int:
        return 1 if self.binary_logit else len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the weights sidecar."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["cam_layers"] = list(self.cam_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        d = dict(d)
        d["classes"] = tuple(d["classes"])
        d["cam_layers"] = tuple(d.get("cam_layers", ()))
        d["preprocess"] = Preprocess.from_dict(d["preprocess"])
        return cls(**d)
