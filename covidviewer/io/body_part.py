"""What a DICOM file's words say about the body part it shows: the chest, another part, or nothing.

The app's input gate and the trainer's image-kind data builder read them the same way: a file that names the chest
anywhere is a chest image (also "CHEST ABDOMEN PELVIS", BodyPartExamined CHESTABDOMEN); one that names only another
part is not (a clavicle film tagged CR, view AP, body part SHOULDER was read by four chest X-ray models, session 51).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

#: the metadata keys (``covidviewer.io.dicom_series.dicom_meta``) whose words name a body part
DESCRIPTION_KEYS = ("body_part", "study_description", "series_description", "protocol_name")
#: the chest in the languages a device writes its protocol names in (accents dropped first: "Tórax" is TORAX)
CHEST_WORDS = frozenset({
    "CHEST", "THORAX", "THORAXES", "LUNG", "LUNGS", "CXR", "PULMONARY",
    "TORAX", "TORACE", "TORACICO", "TORAKS", "LUNGE", "LUNGEN", "POUMON", "POUMONS", "POITRINE", "PULMON", "PULMAO",
})
#: BodyPartExamined codes (DICOM PS3.16 CID 4031) that join the chest to its neighbours: CHESTABDOMEN, NECKCHEST, ...
_CHEST_IN_CODE = "CHEST"
#: BodyPartExamined codes and common description words for parts that are not the chest. Ribs, sternum and spine
#: images of the chest's own region are left to the pixels: a rib series holds PA chest films too.
NON_CHEST_WORDS = frozenset({
    "HEAD", "BRAIN", "SKULL", "HEADNECK", "NECK", "FACE", "SINUS", "SINUSES", "ORBIT", "ORBITS", "IAC", "TMJ",
    "ZYGOMA", "MAXILLA", "NOSE", "NASAL", "SCALP",
    "KNEE", "HAND", "FOOT", "ANKLE", "WRIST", "ELBOW", "HIP", "PELVIS", "FEMUR", "TIBIA", "FIBULA", "PATELLA",
    "HUMERUS", "FOREARM", "FINGER", "THUMB", "TOE", "LEG", "ARM", "THIGH", "CALF", "CALCANEUS", "HEEL", "EXTREMITY",
    "SHOULDER", "CLAVICLE", "SCAPULA",
    "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "LSSPINE", "TLSPINE", "CTSPINE", "LUMBAR", "SACRUM", "COCCYX",
    "ABDOMEN", "ABDOMENPELVIS", "KUB", "KIDNEY", "BREAST", "MAMMO", "MAMMOGRAPHY", "DENTAL", "JAW", "MANDIBLE",
})


def _words(text: str) -> set[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # "TÓRAX" is TORAX, not T and RAX
    return {w for w in re.split(r"[^A-Z0-9]+", plain.upper()) if w}


def _label(key: str, meta: Mapping[str, object]) -> str:
    return f"{key.replace('_', ' ')} {str(meta.get(key)).strip()!r}"


def chest_named(meta: Mapping[str, object]) -> str:
    """The first description that names the chest ("body part 'CHEST'"); "" where none does."""
    for key in DESCRIPTION_KEYS:
        words = _words(str(meta.get(key) or ""))
        if words & CHEST_WORDS or any(_CHEST_IN_CODE in w for w in words):
            return _label(key, meta)
    return ""


def body_part_problem(meta: Mapping[str, object]) -> str:
    """Why the metadata says this is not a chest ("" if it names the chest anywhere, or names no part)."""
    if chest_named(meta):
        return ""
    for key in DESCRIPTION_KEYS:
        hits = sorted(_words(str(meta.get(key) or "")) & NON_CHEST_WORDS)
        if hits:
            return f"{key.replace('_', ' ')} is {str(meta.get(key)).strip()!r}, not a chest ({', '.join(hits).lower()})"
    return ""
