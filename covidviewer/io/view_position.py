"""A radiograph's view in one word: "AP", "PA", "lateral" or "" (unknown), from a DICOM ViewPosition or a csv's wording.

One reading for the app (a header's ViewPosition) and the trainer (ieee8023's "AP Supine", NIH's table). An AP film is
taken front to back, most often the portable film of a patient too ill to stand.
"""
from __future__ import annotations

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
