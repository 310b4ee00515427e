"""A radiograph's view in one word: "AP", "PA", "lateral" or "" (unknown), from a DICOM header or a csv's wording.

One reading for the app (a header's ViewPosition, View Code Sequence or series wording) and the trainer (ieee8023's
"AP Supine", NIH's table). An AP film is taken front to back, most often the portable film of a patient too ill to
stand.
"""
from __future__ import annotations

import re

AP, PA, LATERAL = "AP", "PA", "lateral"
#: ViewPosition values (and csv words) of a lateral or decubitus film: the beam goes through the chest from the side
LATERAL_VIEWS = frozenset({"L", "LL", "RL", "LAT", "LATERAL", "LLD", "RLD"})


def normalised_view(text: object) -> str:
    """"AP", "PA", "lateral" or "" from "AP Supine", "PA", "LL", "AP (pediatric)"...; "frontal" says no which."""
    word = str(text or "").strip().upper()
    if word in LATERAL_VIEWS or word.startswith("LAT"):
        return LATERAL
    if word.startswith("AP"):
        return AP
    if word.startswith("PA"):
        return PA
    return ""


#: View Code Sequence codes of CID 4010 "DX View" (SNOMED CT, and the SNOMED RT codes older files carry): a DX image
#: must code its view there, while its ViewPosition may be left empty
VIEW_CODES = {"399348003": AP, "R-10206": AP, "399066004": PA, "R-10214": PA,
              "399067008": LATERAL, "R-102CD": LATERAL, "399198007": LATERAL, "R-10232": LATERAL,
              "399173006": LATERAL, "R-10236": LATERAL}


def view_from_code(code_value: object, meaning: object = "") -> str:
    """The view a View Code Sequence item codes, by its code value, else by its meaning ("antero-posterior"); an
    oblique or any other view is unknown ("")."""
    found = VIEW_CODES.get(str(code_value or "").strip())
    if found:
        return found
    words = str(meaning or "").lower().replace("-", "").replace(" ", "")
    if "oblique" in words:
        return ""
    if words.startswith("anteroposterior"):
        return AP
    if words.startswith("posteroanterior"):
        return PA
    return LATERAL if "lateral" in words else ""


def view_from_words(text: object) -> str:
    """The view a series' wording names ("CHEST PA", "AP PORTABLE", "THORAX LAT"), or "" where it names none or more
    than one ("PA AND LAT" describes a study, not one image)."""
    tokens = set(re.findall(r"[A-Z]+", str(text or "").upper()))
    named = {view for view, words in ((AP, {"AP"}), (PA, {"PA"}), (LATERAL, {"LAT", "LATERAL"})) if tokens & words}
    return named.pop() if len(named) == 1 else ""

