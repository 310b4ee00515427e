"""The input gate: checks before any prediction, so no model answers on an input it was never
meant for (a lateral film, a head CT, a photograph, a thumbnail).

Two kinds of evidence. Metadata and shape (cheap): DICOM Modality / ViewPosition / body part, size,
slice geometry. Content: the image-kind model's verdict on the analysed 2D image (an ``ImageKind``,
computed by ``covidviewer.inference.image_kind``), which decides for every non-DICOM input (a PNG or
JPEG carries no modality) and for DICOM whose tags are missing; where DICOM tags are present they
decide, unless the pixels contradict them with a high score (the reason names both).

Qt-free, torch-free: this module only reads the Volume's shape and metadata and a given ImageKind.
A refused input gets a human reason ("not analysed: lateral view") and never probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from covidviewer.imaging.body_region import CHEST_SHAPE_BELOW, MIN_BODY_SHARE, MIN_SOLID_SHARE
from covidviewer.imaging.ct_lungs import MIN_AERATED_SHARE
from covidviewer.io.body_part import body_part_problem, chest_named
from covidviewer.io.dicom_header import is_localizer
from covidviewer.io.view_position import LATERAL_VIEWS
from covidviewer.io.volume import FOR_PROCESSING

if TYPE_CHECKING:
    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

MIN_SIDE_PX = 64
#: a DARNet-style whole-chest model needs at least this many slices ...
MIN_VOLUME_SLICES = 16
#: ... covering at least this much of the body along z (when the spacing is known)
MIN_VOLUME_EXTENT_MM = 100.0
#: an axial field of view smaller than this is a head / extremity / phantom, not a chest
MIN_CHEST_FOV_MM = 250.0
CXR_MODALITIES = frozenset({"CR", "DX"})
LOCALIZER_REASON = ("a CT localizer (scout, ImageType LOCALIZER): a projection taken to plan the scan, not a slice; the "
                    "CT models read axial slices, the chest X-ray models radiographs")
#: DICOM Modality values that say nothing about what the pixels are (other, secondary capture)
UNTOLD_MODALITIES = frozenset({"", "OT", "SC"})

IMAGE_KIND_MODEL = "image_kind"
FRONTAL, LATERAL, CT_SLICE_KIND, OTHER_KIND = (
    "frontal chest radiograph", "lateral chest radiograph", "axial CT slice", "other",
)
#: the kind of image each model modality reads
EXPECTED_KIND = {"CXR": FRONTAL, "CT_SLICE": CT_SLICE_KIND, "CT_VOLUME": CT_SLICE_KIND}
#: without telling tags a model runs only when the image-kind model gives its kind at least this
MIN_KIND_SCORE = 0.5
#: with DICOM tags present, the pixels overrule them only when another kind scores at least this
CONTRADICTION_SCORE = 0.9
#: without telling tags, an answer on an image the image-kind model gives its kind less than this says so. Session 49:
#: 6 of 1,651 real frontal films of both packs and 28 of 607 real CT slices score under it; a photograph of the full
#: Moon scored 0.57 for a frontal film, and three models called it COVID-19
SURE_KIND_SCORE = 0.9
_KIND_PHRASE = {
    FRONTAL: "a frontal chest radiograph",
    LATERAL: "a lateral chest radiograph",
    CT_SLICE_KIND: "an axial CT slice",
    OTHER_KIND: "neither a chest radiograph nor a chest CT slice",
}


@dataclass(frozen=True)
class GateDecision:
    """Whether a model may run on an input; ``reason`` reads "not analysed: ..." when refused.

    ``applicable`` is False when the model is simply for another kind of input (a CT model on a
    radiograph): "run every model" skips those silently, but reports every other refusal.
    """

    accepted: bool
    reason: str = ""
    applicable: bool = True

    @classmethod
    def accept(cls) -> "GateDecision":
        return cls(True, "")

    @classmethod
    def refuse(cls, why: str) -> "GateDecision":
        return cls(False, f"not analysed: {why}")

    @classmethod
    def not_for(cls, why: str) -> "GateDecision":
        return cls(False, f"not analysed: {why}", applicable=False)


@dataclass(frozen=True)
class ImageKind:
    """The image-kind model's verdict on one 2D image: top ``kind``, its ``score``, every probability.

    ``slice_index``: the slice of a volume that was classified (None for a single image).
    ``body_share``: for an image the model calls a CT slice, the share its body covers (its largest region brighter
    than the dark background, ``covidviewer.imaging.body_region``); below MIN_BODY_SHARE it shows no body:
    ``verdict`` is "other" and the gate counts its CT probability as 0.
    ``solid_share`` and ``encloses_lungs``: for such an image whose body covers less than CHEST_SHAPE_BELOW (no real
    slice does), whether it is shaped like a chest: a body solid but for its holes (MIN_SOLID_SHARE) that encloses
    lungs (``covidviewer.imaging.ct_lungs.ct_lung_region``). A galaxy's glow is solid but encloses nothing; a line
    drawing encloses much and is mostly holes. One that is not is "other" too; None: not measured.
    ``lung_share``: for a slice in Hounsfield units, the share of it that is aerated lung inside the body
    (``covidviewer.imaging.ct_lungs.aerated_lung_share``, which also picks the slices a series answer scores). A slice
    that holds lung is a chest CT slice whatever the model says of it: the model learnt CT from slices cut out of
    papers, mostly of the mid-chest, and took the lung bases of the built-in scanner series, beside the liver, for
    "other" (0.93-0.98).
    """

    kind: str
    score: float
    probabilities: dict[str, float]
    slice_index: int | None = None
    body_share: float | None = None
    lung_share: float | None = None
    solid_share: float | None = None
    encloses_lungs: bool | None = None

    @property
    def holds_lung(self) -> bool:
        return self.lung_share is not None and self.lung_share >= MIN_AERATED_SHARE

    @property
    def no_body(self) -> bool:
        return self.kind == CT_SLICE_KIND and self.body_share is not None and self.body_share < MIN_BODY_SHARE

    @property
    def no_chest_shape(self) -> bool:
        """A "CT slice" with a body smaller than every real slice's that is not shaped like a chest either."""
        if self.kind != CT_SLICE_KIND or self.body_share is None or self.body_share >= CHEST_SHAPE_BELOW:
            return False
        return self.encloses_lungs is False or (self.solid_share is not None and self.solid_share < MIN_SOLID_SHARE)

    @property
    def ct_overruled(self) -> bool:
        """The model's "CT slice" does not stand: nothing the size of a body, or nothing shaped like a chest."""
        return self.no_body or self.no_chest_shape

    @property
    def verdict(self) -> str:
        """The kind the gate acts on: the model's, except a "CT slice" with no body or no chest's shape in it."""
        return OTHER_KIND if self.ct_overruled else self.kind

    @property
    def overruled(self) -> str:
        """Why the verdict is not the model's kind, in the one wording the gate, the viewer and ``predict`` use;
        "" when it is the model's kind."""
        said = f"the image-kind model says {kind_phrase(self.kind)} ({self.score:.2f}), but"
        if self.no_body:
            return (f"{said} nothing in it is the size of a body: its largest region brighter than the background covers "
                    f"{self.body_share:.1%} of the image, the body on a chest CT slice {MIN_BODY_SHARE:.0%} or more")
        if not self.no_chest_shape:
            return ""
        shape = ("it encloses no lungs" if self.encloses_lungs is False else
                 f"it is mostly outline: {self.solid_share:.0%} of it is not a hole, of a chest's {MIN_SOLID_SHARE:.0%} "
                 "or more")
        return (f"{said} it is not shaped like a chest: its largest region brighter than the background covers "
                f"{self.body_share:.1%} of the image (a chest CT slice's body {CHEST_SHAPE_BELOW:.0%} or more) and {shape}")

    def probability(self, kind: str) -> float:
        return 0.0 if self.ct_overruled and kind == CT_SLICE_KIND else float(self.probabilities.get(kind, 0.0))

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "score": round(float(self.score), 4),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
        }
        if self.slice_index is not None:
            out["slice_index"] = self.slice_index
        if self.body_share is not None:
            out["body_share"] = round(float(self.body_share), 4)
        if self.lung_share is not None:
            out["lung_share"] = round(float(self.lung_share), 4)
        if self.solid_share is not None:
            out["solid_share"] = round(float(self.solid_share), 4)
        if self.encloses_lungs is not None:
            out["encloses_lungs"] = self.encloses_lungs
        if self.verdict != self.kind:
            out["verdict"] = self.verdict
        return out


def kind_phrase(kind: str) -> str:
    """"an axial CT slice" for "axial CT slice"."""
    return _KIND_PHRASE.get(kind, kind)


def _is_dicom(volume: "Volume") -> bool:
    return volume.meta.get("format") == "dicom"


def _in_plane_fov_mm(volume: "Volume") -> float | None:
    """Largest in-plane extent in mm, or None when the pixel spacing is not known."""
    if volume.meta.get("pixel_spacing_known") is False:
        return None
    if _is_dicom(volume) and volume.meta.get("pixel_spacing") is None:
        return None
    if not _is_dicom(volume) and volume.meta.get("format") in (None, "image"):
        return None  # PNG/JPEG: no physical size
    _, h, w = volume.shape
    return max(h * float(volume.spacing[1]), w * float(volume.spacing[2]))


def _is_axial(volume: "Volume") -> bool:
    """Slices are axial when the slice normal runs head-foot (|z cosine| dominates)."""
    direction = np.asarray(volume.direction, dtype=float)
    normal = direction[:, 2] if direction.shape == (3, 3) else np.array([0.0, 0.0, 1.0])
    return abs(normal[2]) >= 0.8 * float(np.linalg.norm(normal))


def _is_localizer(volume: "Volume") -> bool:
    """A CT localizer (scout, topogram: ImageType LOCALIZER): a projection through the whole body taken to plan the
    scan, shaped like a frontal film. Its lungs show no aerated HU, so before session 51 it was refused as "a slice
    that holds no lung", which is not what it is."""
    return _is_dicom(volume) and is_localizer(str(volume.meta.get("image_type") or ""))


def _is_ct(volume: "Volume") -> bool:
    modality = (volume.modality or volume.meta.get("modality") or "").upper()
    return modality == "CT"


def check_input(
    volume: "Volume", spec: "ModelSpec", slice_index: int | None = None, kind: ImageKind | None = None
) -> GateDecision:
    """May ``spec``'s model run on ``volume``?

    Metadata and shape first; then, when ``kind`` (the image-kind model's verdict on the image
    this model would analyse) is given, the content check (:func:`check_content`). Without
    ``kind`` (no trained image-kind model) only metadata and shape decide, as they always did.
    """
    decision = _check_metadata(volume, spec, slice_index, kind is not None)
    if not decision.accepted:
        return decision
    return check_content(volume, spec, kind)


def _check_metadata(volume: "Volume", spec: "ModelSpec", slice_index: int | None, content_known: bool) -> GateDecision:
    if volume.is_rgb:
        # a grey film with a mild cast never gets here (``film_hanging.holds_grey`` reads it as grey)
        return GateDecision.refuse("colour (RGB) image, not a radiograph or CT (a film with coloured marks drawn on it "
                                   "is analysed once saved in grey)")
    z, h, w = volume.shape
    if min(h, w) < MIN_SIDE_PX:
        return GateDecision.refuse(f"image too small ({w} x {h} px; at least {MIN_SIDE_PX} px per side)")
    problem = body_part_problem(volume.meta)
    if problem:
        return GateDecision.refuse(problem)
    modality = (volume.modality or "").upper()
    # a DICOM file whose Modality says nothing (OT, SC, none) is judged by its pixels when we can
    untold = content_known and _is_dicom(volume) and modality in UNTOLD_MODALITIES
    if spec.modality == "CXR":
        return _check_radiograph(volume, modality, untold)
    if spec.modality == "CT_SLICE":
        return _check_ct_slice(volume, modality, slice_index, untold)
    if spec.modality == "CT_VOLUME":
        return _check_ct_volume(volume)
    return GateDecision.not_for(f"{spec.name} is not a COVID-19 classifier")


def _check_radiograph(volume: "Volume", modality: str, untold: bool = False) -> GateDecision:
    if not volume.is_2d:
        kind = "CT series" if _is_ct(volume) else f"{volume.shape[0]}-image series"
        return GateDecision.not_for(f"{kind}; this chest X-ray model needs one radiograph")
    if _is_dicom(volume) and modality not in CXR_MODALITIES and not untold:
        return GateDecision.not_for(f"modality {modality or 'unknown'}; this chest X-ray model needs a CR or DX radiograph")
    if not _is_dicom(volume) and _is_ct(volume):
        return GateDecision.not_for("CT image; this chest X-ray model needs a radiograph")
    if volume.meta.get("presentation_intent") == FOR_PROCESSING:
        return GateDecision.refuse("raw detector data (Presentation Intent Type FOR PROCESSING); the models read films "
                                   "processed for presentation, as a reader is shown them")
    view = str(volume.meta.get("view_position") or "").strip().upper()
    if view in LATERAL_VIEWS:
        return GateDecision.refuse(f"lateral view ({view}); the models were trained on frontal (PA/AP) films")
    return GateDecision.accept()


def _check_ct_slice(volume: "Volume", modality: str, slice_index: int | None, untold: bool = False) -> GateDecision:
    if _is_dicom(volume) and modality != "CT" and not untold:
        return GateDecision.not_for(f"modality {modality or 'unknown'}; this model needs a CT slice")
    if _is_localizer(volume):
        return GateDecision.refuse(LOCALIZER_REASON)
    if volume.is_2d and volume.meta.get("orientation") is not None and not _is_axial(volume):
        # one coronal or sagittal reformat saved on its own: its geometry says so, whatever its pixels look like
        return GateDecision.refuse("the image is not an axial slice (its orientation says so); this model reads axial "
                                   "CT slices")
    if not volume.is_2d:
        if not _is_ct(volume):
            return GateDecision.not_for("a multi-image series that is not CT")
        if not _is_axial(volume):
            return GateDecision.refuse("slices are not axial; this model reads axial CT slices")
        if slice_index is not None and not 0 <= slice_index < volume.shape[0]:
            return GateDecision.refuse(f"slice {slice_index} does not exist ({volume.shape[0]} slices)")
    return _check_fov(volume)


def _check_ct_volume(volume: "Volume") -> GateDecision:
    if not _is_ct(volume):
        return GateDecision.not_for("not a CT series; this model needs a chest CT volume")
    z = volume.shape[0]
    if z == 1:
        return GateDecision.not_for("a single image; this model needs a chest CT volume")
    if _is_localizer(volume):
        return GateDecision.refuse(LOCALIZER_REASON)
    if z < MIN_VOLUME_SLICES:
        return GateDecision.refuse(f"only {z} slice(s); this model needs a chest CT volume of at least {MIN_VOLUME_SLICES}")
    if not _is_axial(volume):
        return GateDecision.refuse("slices are not axial; this model reads axial chest CT volumes")
    if volume.meta.get("pixel_spacing_known") is not False:
        extent = z * float(volume.spacing[0])
        if extent < MIN_VOLUME_EXTENT_MM:
            return GateDecision.refuse(f"the series covers only {extent:.0f} mm along the body, not a whole chest")
    return _check_fov(volume)


def _check_fov(volume: "Volume") -> GateDecision:
    fov = _in_plane_fov_mm(volume)
    if fov is not None and fov < MIN_CHEST_FOV_MM:
        return GateDecision.refuse(
            f"field of view {fov:.0f} mm is smaller than a chest ({MIN_CHEST_FOV_MM:.0f} mm); head or extremity CT?"
        )
    return GateDecision.accept()


# --------------------------------------------------------------------------- content
def telling_tags(volume: "Volume", spec: "ModelSpec") -> str:
    """The DICOM tags that already say this input is the kind ``spec``'s model reads ("" if none do).

    A radiograph needs Modality CR/DX, a view (frontal vs lateral is otherwise unknown: ViewPosition, else the View
    Code Sequence or the series' wording, covidviewer.io.dicom_header.header_view) *and* a description that names the
    chest: CR with view AP says a frontal radiograph of some part (a clavicle film so tagged scored 0.55 for a frontal
    chest film, session 51). A CT slice or volume needs Modality CT (the lung-share check tells a chest slice).
    """
    if not _is_dicom(volume):
        return ""
    modality = (volume.modality or "").upper()
    if spec.modality == "CXR":
        view = str(volume.meta.get("view_position") or "").strip().upper()
        chest = chest_named(volume.meta)
        return f"Modality {modality}, view {view}, {chest}" if modality in CXR_MODALITIES and view and chest else ""
    if spec.modality in ("CT_SLICE", "CT_VOLUME") and modality == "CT":
        return "Modality CT"
    return ""


def unsure_kind_warning(volume: "Volume", spec: "ModelSpec", kind: ImageKind | None) -> str:
    """The warning for an answer the gate let through on the pixels alone, with the image-kind model under
    SURE_KIND_SCORE for the kind ``spec``'s model reads; "" otherwise (DICOM tags that say so, or a sure verdict)."""
    expected = EXPECTED_KIND.get(spec.modality)
    if kind is None or expected is None or telling_tags(volume, spec):
        return ""
    p = kind.probability(expected)
    if p >= SURE_KIND_SCORE:
        return ""
    return (f"image-kind check: the image-kind model is not sure this is {kind_phrase(expected)} ({p:.2f}; it gives "
            f"{SURE_KIND_SCORE:.2f} or more to nearly every real one it was tried on), so this answer may be on an image "
            "the model was never meant for")


def needs_lung_pair(spec: "ModelSpec", kind: ImageKind | None) -> bool:
    """Whether a radiograph model's input must show two lungs (``check_lung_pair``): wherever the image-kind model is
    under SURE_KIND_SCORE for a frontal film, whatever the tags say. Tags can be wrong: a clavicle film tagged body
    part CHEST (0.55) was answered by all four chest X-ray models (session 51)."""
    return spec.modality == "CXR" and kind is not None and kind.probability(FRONTAL) < SURE_KIND_SCORE


def check_lung_pair(kind: ImageKind, two_lungs: bool, tags: str = "") -> GateDecision:
    """For a film the image-kind model is unsure of (``needs_lung_pair``): a frontal chest film shows two lungs side by
    side to the lung U-Net (``covidviewer.imaging.lung_box.shows_two_lungs``). Every real film the image-kind model was
    unsure of does; a full Moon (frontal film 0.56) got one disc, and four chest X-ray models called it COVID-19
    (session 50). ``tags``: the DICOM tags that said a chest film (``telling_tags``), named in a refusal so that a
    reader sees why they were overruled."""
    if two_lungs:
        return GateDecision.accept()
    said = f"the DICOM tags ({tags}) say a frontal chest radiograph, but it is " if tags else ""
    return GateDecision.refuse(
        f"{said}not clearly a frontal chest radiograph (image-kind model {kind.probability(FRONTAL):.2f}), and the lung "
        "segmenter finds no two lungs side by side in it")


def check_content(volume: "Volume", spec: "ModelSpec", kind: ImageKind | None) -> GateDecision:
    """Do the pixels look like the kind of image ``spec``'s model reads?

    No telling tags: the expected kind must score at least MIN_KIND_SCORE. Telling DICOM tags: they
    decide, unless another kind scores at least CONTRADICTION_SCORE (then the tags and the pixels
    contradict each other, and the reason says both). A refusal for a kind another model reads
    (a CT slice offered to a chest X-ray model) is "not applicable"; any other is reported.
    """
    expected = EXPECTED_KIND.get(spec.modality)
    if kind is None or expected is None:
        return GateDecision.accept()
    if spec.modality == "CT_SLICE" and kind.lung_share is not None and not kind.holds_lung:
        # a slice in HU that holds no lung (the neck, the abdomen): the slice models never saw one, and a series answer
        # skips it too (``inference.series_scan.lung_slices``)
        return GateDecision.refuse(
            f"this slice holds no lung ({kind.lung_share:.1%} of it is aerated lung inside the body, a lung slice "
            f"{MIN_AERATED_SHARE:.0%} or more); a CT-slice model reads slices through the lungs")
    tags = telling_tags(volume, spec)
    seen = kind.verdict
    score = f"image-kind model {kind.score:.2f}"
    if kind.ct_overruled:  # the model's "CT slice" is overruled: say why
        score = kind.overruled
    if tags:
        if seen == expected or kind.score < CONTRADICTION_SCORE or (expected == CT_SLICE_KIND and kind.holds_lung):
            return GateDecision.accept()
        why = f"the DICOM tags ({tags}) say {kind_phrase(expected)} but the pixels look like {kind_phrase(seen)} ({score})"
    else:
        if kind.probability(expected) >= MIN_KIND_SCORE:
            return GateDecision.accept()
        if seen == expected:  # top kind, but no majority: too unsure to run a model on it
            why = f"not clearly {kind_phrase(expected)} (image-kind model {kind.score:.2f})"
        elif seen == OTHER_KIND:  # a photograph, a head, a rotated film: say what it is not
            why = f"does not look like a chest radiograph or a chest CT slice ({score})"
        else:
            why = f"looks like {kind_phrase(seen)}, not {kind_phrase(expected)} ({score})"
    if seen in (FRONTAL, CT_SLICE_KIND) and seen != expected:
        return GateDecision.not_for(why)  # another model reads this kind of image
    return GateDecision.refuse(why)
