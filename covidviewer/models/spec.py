"""ModelSpec: the configuration that travels with a network's weights (timm's pretrained cfg).

Everything the app and the trainer need to feed a model correctly lives here, so both derive
their preprocessing from one place (covidviewer.imaging.preprocess). Every setting is a typed
field; a weight card's serialized spec is read by ``ModelSpec.from_dict`` alone, which also maps
the layout of cards written before the fields were typed (a free-form ``extra`` dict).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from difflib import get_close_matches
from typing import Any, Literal

from covidviewer.imaging.preprocess import Preprocess

#: ANY_2D: a helper that reads any single 2D image (the input gate's image-kind model), not a COVID-19 classifier
MODALITIES = ("CXR", "CT_SLICE", "CT_VOLUME", "ANY_2D")
TASKS = ("classification", "segmentation", "cascade")
LungMaskUse = Literal["none", "image", "forward_arg"]
LUNG_MASK_USES: tuple[LungMaskUse, ...] = ("none", "image", "forward_arg")
Outputs = Literal["logits", "log_probabilities"]
OUTPUTS: tuple[Outputs, ...] = ("logits", "log_probabilities")


@dataclass(frozen=True)
class CellCentres:
    """Where a CAM layer's cells sit on the model grid: cell i is centred on input voxel
    ``origin + stride * i`` (per axis). Declared so a map does not pay for measuring it."""

    origin: tuple[float, ...]
    stride: tuple[float, ...]


@dataclass(frozen=True)
class ExplainSpec:
    """What the explanation methods need to know about a network.

    cam_layers: dotted module paths (``model.get_submodule``) whose activations CAM methods use.
    classifier: dotted path of the last layer (a Linear, or a 1x1 Conv) whose weights CAM uses and
        whose inputs are the penultimate features; "" when the head is not one such layer.
    default_method: the map the model's paper shows ("the paper's map"): an explanation method name.
    depth_attention: attribute of the model that holds the last forward's depth gate (a (B, C, D')
        tensor, DARNet); "" for a model without one.
    cell_centres: per CAM layer, its cells' centres when declared (else measured at run time).
    """

    cam_layers: tuple[str, ...] = ()
    classifier: str = ""
    default_method: str = "gradcam"
    depth_attention: str = ""
    cell_centres: dict[str, CellCentres] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExplainSpec":
        """Inverse of ``asdict``; an unknown key is an error that names it."""
        _reject_unknown(cls, d, "explain")
        d = dict(d)
        d["cam_layers"] = tuple(d.get("cam_layers", ()))
        d["cell_centres"] = {layer: CellCentres(tuple(c["origin"]), tuple(c["stride"]))
                             for layer, c in d.get("cell_centres", {}).items()}
        return cls(**d)


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model is and how to feed it.

    name: registry name (``create_model(name)``); version: bumped when weights change meaning.
    classes: output order of the logits; a single-logit binary model lists two classes
        (negative first) and sets ``binary_logit``.
    lung_mask: how the lung U-Net's mask reaches the model: "none", "image" (the image is
        multiplied by it before normalising) or "forward_arg" (``forward(x, lung_mask=...)``).
        A lung crop (``preprocess.lung_crop``) needs the mask too (``needs_lung_mask``).
    weights: folder name under ``resources/weights/`` holding the safetensors shards + sidecar.
    ablation_of: for an ablation of a paper's model (the paper's network with a module taken out), that
        model's name; the viewer lists ablations under a fold beneath it.
    outputs: what ``forward`` returns: "logits", or "log_probabilities" (a cascade's combined answer).
    inputs: names of ``forward``'s positional inputs (a cascade takes one image per stage).
    parts: a composite's registered models by attribute (the cascade); a composite has no weight
        folder of its own, each part loads its own.
    explain: CAM layers, classifier, the paper's map and what else the explanation methods read.
    small_input_depth: the depth a fixed-depth 3D model is built for on the tiny inputs of tests and
        benchmarks (DARNet's depth attention is sized for one depth); 0 when any depth runs.
    """

    name: str
    version: str
    task: str
    modality: str
    classes: tuple[str, ...]
    preprocess: Preprocess
    lung_mask: LungMaskUse = "none"
    binary_logit: bool = False
    weights: str = ""
    paper: str = ""
    description: str = ""
    ablation_of: str = ""
    outputs: Outputs = "logits"
    inputs: tuple[str, ...] = ("image",)
    parts: dict[str, str] = field(default_factory=dict)
    explain: ExplainSpec = field(default_factory=ExplainSpec)
    small_input_depth: int = 0

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"{self.name}: modality {self.modality!r} not in {MODALITIES}")
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task {self.task!r} not in {TASKS}")
        if self.lung_mask not in LUNG_MASK_USES:
            raise ValueError(f"{self.name}: lung_mask {self.lung_mask!r} not in {LUNG_MASK_USES}")
        if self.outputs not in OUTPUTS:
            raise ValueError(f"{self.name}: outputs {self.outputs!r} not in {OUTPUTS}")

    @property
    def num_outputs(self) -> int:
        return 1 if self.binary_logit else len(self.classes)

    @property
    def needs_lung_mask(self) -> bool:
        """True when the model cannot be fed without a lung mask (masked image, mask argument or lung
        crop): the lung U-Net's for a radiograph (``needs_lung_unet``), the slice's own for a CT slice."""
        return self.lung_mask != "none" or self.preprocess.lung_crop

    @property
    def needs_lung_unet(self) -> bool:
        """True when the lung U-Net must run before the model: a radiograph model that needs a lung mask. A CT-slice
        model's lungs are found on the slice itself (``inference.inputs.ct_lung_mask``)."""
        return self.needs_lung_mask and self.modality == "CXR"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the weights sidecar."""
        d = asdict(self)
        d["preprocess"] = self.preprocess.to_dict()
        d["classes"] = list(self.classes)
        d["inputs"] = list(self.inputs)
        d["explain"]["cam_layers"] = list(self.explain.cam_layers)
        for centres in d["explain"]["cell_centres"].values():
            centres["origin"], centres["stride"] = list(centres["origin"]), list(centres["stride"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        """The spec of a weight card or run summary: the typed layout of ``to_dict``, or the layout
        of cards written before (``extra``, ``cam_layers``, ``needs_lung_mask``, ``preprocess.lung_mask``),
        mapped onto the typed fields. An unknown key is an error that names it."""
        if _is_untyped_layout(d):
            d = _typed_layout(d)
        _reject_unknown(cls, d, "spec")
        d = dict(d)
        d["classes"] = tuple(d["classes"])
        d["inputs"] = tuple(d.get("inputs", ("image",)))
        d["preprocess"] = Preprocess.from_dict(d["preprocess"])
        d["parts"] = dict(d.get("parts", {}))
        d["explain"] = ExplainSpec.from_dict(d.get("explain", {}))
        return cls(**d)


# --------------------------------------------------------------------------- cards written before
#: ``extra`` keys that registered specs once set and that nothing read; cards written then hold them
_RETIRED_EXTRA = frozenset({"moex", "segmenter", "base_channels"})
_EXTRA_TO_FIELD = {"parts": "parts", "output": "outputs", "inputs": "inputs", "small_input_depth": "small_input_depth"}
_EXTRA_TO_EXPLAIN = {"classifier": "classifier", "depth_attention": "depth_attention", "default_explainer": "default_method"}
_EXTRA_KEYS = _RETIRED_EXTRA | set(_EXTRA_TO_FIELD) | set(_EXTRA_TO_EXPLAIN) | {"cell_geometry", "forward_takes_lung_mask"}


def _is_untyped_layout(d: dict[str, Any]) -> bool:
    return any(key in d for key in ("extra", "cam_layers", "needs_lung_mask")) or "lung_mask" in d.get("preprocess", {})


def _typed_layout(old: dict[str, Any]) -> dict[str, Any]:
    """An old card's spec in ``to_dict``'s layout: ``extra``'s keys become fields, the three ways of
    saying "uses a lung mask" become ``lung_mask``, CAM settings go to ``explain``."""
    d = dict(old)
    extra = dict(d.pop("extra", None) or {})
    unknown = sorted(set(extra) - _EXTRA_KEYS)
    if unknown:
        raise ValueError(f"{d.get('name')}: unknown extra key(s) {unknown} in the card's spec; known: {sorted(_EXTRA_KEYS)}")
    d.pop("needs_lung_mask", None)  # derived now (ModelSpec.needs_lung_mask)
    preprocess = dict(d["preprocess"])
    masks_image = bool(preprocess.pop("lung_mask", False))
    d["preprocess"] = preprocess
    if masks_image and extra.get("forward_takes_lung_mask"):
        raise ValueError(f"{d.get('name')}: the card's spec masks the image and passes the mask to forward; a model does one")
    d["lung_mask"] = "forward_arg" if extra.get("forward_takes_lung_mask") else "image" if masks_image else "none"
    for key, name in _EXTRA_TO_FIELD.items():
        if key in extra:
            d[name] = extra[key]
    explain: dict[str, Any] = {"cam_layers": d.pop("cam_layers", [])}
    for key, name in _EXTRA_TO_EXPLAIN.items():
        if key in extra:
            explain[name] = extra[key]
    # the paper's map such an old card had: CAM for a 3D model, else Grad-CAM
    explain.setdefault("default_method", "cam" if d.get("modality") == "CT_VOLUME" else "gradcam")
    explain["cell_centres"] = dict(extra.get("cell_geometry", {}))
    d["explain"] = explain
    return d


def _reject_unknown(cls: type, d: dict[str, Any], what: str) -> None:
    known = sorted(f.name for f in fields(cls))
    unknown = sorted(set(d) - set(known))
    if unknown:
        hints = [f"{key!r} (did you mean {close[0]!r}?)" if (close := get_close_matches(key, known, n=1)) else repr(key)
                 for key in unknown]
        raise ValueError(f"unknown {what} setting(s) {', '.join(hints)}; known: {known}")
