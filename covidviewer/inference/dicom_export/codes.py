"""Coded concepts of the SR: standard codes (SNOMED CT, DCM, UCUM) where one exists, else the
private coding scheme 99CVWR (a local "99" scheme per PS3.16 8.2), declared in the SR's Coding
Scheme Identification Sequence."""
from __future__ import annotations

import re

from pydicom.sr.coding import Code

PRIVATE_SCHEME = "99CVWR"
PRIVATE_SCHEME_NAME = "CovidViewer research concepts"

#: classes of the shipped models that have a SNOMED CT concept
_CLASS_CODES = {
    "covid-19": Code("840539006", "SCT", "COVID-19"),
    "normal": Code("17621005", "SCT", "Normal"),
    "bacterial pneumonia": Code("53084003", "SCT", "Bacterial pneumonia"),
    "viral pneumonia": Code("75570004", "SCT", "Viral pneumonia"),
    "pneumonia": Code("233604007", "SCT", "Pneumonia"),
}

PROCEDURE = Code("363679005", "SCT", "Imaging procedure")
DECISION = Code("121071", "DCM", "Finding")  # the classifier's answer (a research score, not a diagnosis)
OOD_FLAG = Code("CVOOD", PRIVATE_SCHEME, "Input outside the training distribution")
OOD_SCORE = Code("CVOODSCORE", PRIVATE_SCHEME, "Distance of the input to the training data")
COMMENT = Code("121106", "DCM", "Comment")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")

PROBABILITY = Code("{probability}", "UCUM", "probability")
NO_UNITS = Code("1", "UCUM", "no units")

#: measurement record value names -> (concept, unit when the record gives none)
MEASUREMENT_CODES = {
    "length": (Code("410668003", "SCT", "Length"), Code("mm", "UCUM", "millimeter")),
    "angle": (Code("1483009", "SCT", "Angle"), Code("deg", "UCUM", "degree")),
    "area": (Code("42798000", "SCT", "Area"), Code("mm2", "UCUM", "square millimeter")),
    "mean": (Code("373098007", "SCT", "Mean"), NO_UNITS),
    "sd": (Code("386136009", "SCT", "Standard Deviation"), NO_UNITS),
    "min": (Code("255605001", "SCT", "Minimum"), NO_UNITS),
    "max": (Code("56851009", "SCT", "Maximum"), NO_UNITS),
}
UNIT_CODES = {
    "HU": Code("[hnsf'U]", "UCUM", "Hounsfield unit"),
    "mm": Code("mm", "UCUM", "millimeter"),
    "mm2": Code("mm2", "UCUM", "square millimeter"),
    "deg": Code("deg", "UCUM", "degree"),
    "": NO_UNITS,
}


def plain(text: str) -> str:
    """``text`` in ASCII (dashes and the middle dot folded): safe in any source character set."""
    folded = text.replace("\u2014", "-").replace("\u2013", "-").replace("\u00b7", "-").replace("\u2192", "->")
    return folded.replace("\u2265", ">=").replace("\u2264", "<=").encode("ascii", "replace").decode()


def class_code(name: str) -> Code:
    """The concept of a model's class: SNOMED CT when known, else a 99CVWR code from the name."""
    key = name.strip().lower()
    if key in _CLASS_CODES:
        return _CLASS_CODES[key]
    value = "CV-" + re.sub(r"[^A-Z0-9]+", "", name.upper())[:13]
    return Code(value, PRIVATE_SCHEME, plain(name)[:64] or "unnamed class")
