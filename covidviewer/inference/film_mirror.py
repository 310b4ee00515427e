"""The mirror check: a frontal chest film stored mirrored is read by the classifiers mirrored back.

Every chest X-ray classifier here was trained on films hung as read (the patient's right on the viewer's
left) and answers differently on the same film mirrored (session 35: the cascade changed its answer on 39 of
80 films, DPN-SENet and ``small_cnn`` on 19 each, VGG-16-GA on 10). A PNG or JPEG says nothing of its sides,
and a scanned or exported film can be mirrored. The mirror model (``covidviewer.models.film_mirror``) is asked
once per film; where it is sure the film is mirrored (``MIRRORED_AT``), every classifier reads the film
mirrored back (``covidviewer.inference.film_hanging``), and its maps, analysed box and lung mask go back onto the
film as stored, so the viewer draws them where the reader looks. Each answer then says so; a heart on the patient's
right (dextrocardia) looks the same to the check, and the note names both. Below ``MIRRORED_AT`` nothing changes.

A DICOM film's Patient Orientation (0020,0020) says which way it is hung, and it decides over the check where it
names a frontal film's sides (``header_side``: "L\\F", the patient's left towards the viewer's right, is hung as
read; "R\\F" is stored mirrored): a heart on the patient's right in a file that says "L\\F" is read as stored, as a
reader hangs it, and the answer names both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from covidviewer.imaging.orientation import patient_orientation_vectors
from covidviewer.inference.image_kind import gate_input, gate_probabilities

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

MIRROR_MODEL = "film_mirror"
#: p(mirrored) from which a film is read mirrored back (session 35, on the 425 validation films of
#: trainer/recipes/film_mirror.toml: 1 film as hung reached it (a child's, p 1.00), and 93% of the same films mirrored);
#: most films a reader opens are hung as read, and one misread as mirrored is read wrong, so the bar is high
MIRRORED_AT = 0.98
#: p(mirrored) from which an answer on the film as stored says that it may be mirrored
MAYBE_MIRRORED_AT = 0.5
#: ``header_side``'s verdicts
HUNG_AS_READ, STORED_MIRRORED = "hung as read", "stored mirrored"
#: what a mirrored film does to the answers (session 35, 80 films of both packs, each as hung and mirrored)
MIRRORED_EFFECT = "the same film mirrored changed the cascade's answer on 39 of 80 films and DPN-SENet's on 19"


@dataclass(frozen=True)
class FilmSide:
    """The mirror model's verdict on one frontal film: p(mirrored), and whether it is read mirrored back."""

    p_mirrored: float
    #: what the file's Patient Orientation says (``header_side``): HUNG_AS_READ, STORED_MIRRORED or "" (nothing)
    header: str = ""
    #: that Patient Orientation, as written ("L\\F")
    orientation: str = ""

    @property
    def looks_mirrored(self) -> bool:
        return self.p_mirrored >= MIRRORED_AT

    @property
    def mirrored(self) -> bool:
        if self.header:
            return self.header == STORED_MIRRORED
        return self.looks_mirrored

    @property
    def unsure(self) -> bool:
        return not self.header and MAYBE_MIRRORED_AT <= self.p_mirrored < MIRRORED_AT

    @property
    def header_overrules(self) -> bool:
        """The file says the film is hung as read, while the check takes it for mirrored."""
        return self.header == HUNG_AS_READ and self.p_mirrored >= MAYBE_MIRRORED_AT

    def to_json(self) -> dict[str, float | bool | str]:
        return {"p_mirrored": round(self.p_mirrored, 4), "read_mirrored_back": self.mirrored,
                "patient_orientation": self.orientation}

    def summary(self) -> str:
        """A few words beside the image kind ("read mirrored back (mirror check 0.99)"); "" for a film as hung."""
        if self.header == STORED_MIRRORED:
            return f"read mirrored back (the file's Patient Orientation {self.orientation}; mirror check {self.p_mirrored:.2f})"
        if self.header_overrules:
            return (f"read as stored, as the file's Patient Orientation {self.orientation} hangs it (mirror check "
                    f"{self.p_mirrored:.2f}: a heart on the patient's right?)")
        if not (self.mirrored or self.unsure):
            return ""
        return f"{'read mirrored back' if self.mirrored else 'may be mirrored'} (mirror check {self.p_mirrored:.2f})"

    def note(self) -> str:
        """What an answer says of the film's sides ("" when the film looks hung as read)."""
        if self.header == STORED_MIRRORED:
            return (f"mirror check: the file's Patient Orientation ({self.orientation}) says the film is stored mirrored "
                    f"(the patient's right on the viewer's right; the check's p {self.p_mirrored:.2f}); the models were "
                    f"trained on films hung with the patient's right on the viewer's left, and {MIRRORED_EFFECT}; this "
                    "answer is on the film mirrored back (its map is drawn on the film as stored)")
        if self.header_overrules:
            return (f"mirror check: the heart looks to be on the viewer's left (p {self.p_mirrored:.2f} that the film is "
                    f"mirrored), but the file's Patient Orientation ({self.orientation}) says it is hung as read: a heart "
                    "on the patient's right (dextrocardia, situs inversus), or a film flipped without its header; this "
                    f"answer is on the film as stored, and {MIRRORED_EFFECT}")
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


def header_side(meta: dict) -> tuple[str, str]:
    """(HUNG_AS_READ, STORED_MIRRORED or "", the Patient Orientation as written) from a film's metadata: only a value
    whose columns run to the feet and whose rows run to the patient's left or right says which way a frontal film is
    hung; anything else (none, a turned film's "F\\L", a lateral's "P\\F") says nothing here."""
    text = str(meta.get("patient_orientation") or "")
    vectors = patient_orientation_vectors(text)
    if vectors is None:
        return "", text
    right, down = vectors  # LPS: +x is the patient's left, -z the feet
    if not (np.allclose(down, (0.0, 0.0, -1.0)) and abs(abs(float(right[0])) - 1.0) < 1e-9):
        return "", text
    return (HUNG_AS_READ if right[0] > 0 else STORED_MIRRORED), text


def classify_film_side(model: "nn.Module", spec: "ModelSpec", volume: "Volume", x: np.ndarray | None = None) -> FilmSide:
    """The mirror model's verdict on the one plane of a 2D grey ``volume`` (``x``: its ``gate_input`` where the
    image-kind model already made it)."""
    probs = gate_probabilities(model, gate_input(volume, spec) if x is None else x)
    return FilmSide(p_mirrored=float(probs[list(spec.classes).index("mirrored")]))
