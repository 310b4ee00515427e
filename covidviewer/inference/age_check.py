"""A child's chest film: the radiograph models never saw a child with COVID-19, so an answer says so.

In the training data every child's film (Kermany 2018, children of one to five years) is normal or a
bacterial or viral pneumonia, and every COVID-19 film is an adult's; the audit shows the models learnt age
(README, issue 12). On a child's film, then, "not COVID-19" is what they learnt a child's film to be, and
neither that answer nor a COVID-19 one is a reading of the lungs alone. The DICOM header often gives the
age (PatientAge, e.g. "007Y", "018M"): when it is under 18 years, every answer of a radiograph model with a
COVID-19 class carries a warning. Nothing changes the answer: unlike a film from before the pandemic
(``era_check``), a child can have COVID-19.

"000Y" is read as no age: anonymisers write it, and an infant's age is given in days, weeks or months. Where the
header gives no PatientAge (it is optional in most modules), the age is the image's own date less PatientBirthDate, as
Weasis and OHIF show it, when the image's date is trusted (``era_check.image_date``: not a de-identified, shifted
one) and the birth date is before it (an anonymiser that writes the study date as the birth date gives no age).
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any, Mapping

from covidviewer.inference.era_check import COVID, image_date
from covidviewer.inference.results import STATUS_OK, ModelResult

ADULT_YEARS = 18
#: DICOM Age String (PS3.5): three digits and a unit
_AGE = re.compile(r"^(\d{3})([DWMY])$")
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def patient_age_years(meta: Mapping[str, Any]) -> float | None:
    """The patient's age in years from the header (PatientAge, else birth and image dates), or None."""
    told = _age_told(meta)
    return None if told is None else told[0]


def _age_told(meta: Mapping[str, Any]) -> tuple[float, str] | None:
    """(age in years, how the file tells it) or None: PatientAge as written, else the birth and image dates."""
    text = str(meta.get("patient_age") or "").strip().upper()
    match = _AGE.match(text)
    if match is not None:
        return None if text == "000Y" else (int(match.group(1)) * _UNIT_YEARS[match.group(2)], f"as {text}")
    born, imaged = _birth_date(meta.get("patient_birth_date")), image_date(meta)
    if born is None or imaged is None or born >= imaged[0]:
        return None
    years = (imaged[0] - born).days / 365.25
    return years, f"as born {born.isoformat()}, imaged {imaged[0].isoformat()} ({imaged[1]} date): {years:.1f} years"


def _birth_date(text: Any) -> date | None:
    digits = "".join(ch for ch in str(text or "") if ch.isdigit())[:8]
    if len(digits) != 8:
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def child_warning(meta: Mapping[str, Any]) -> str | None:
    """The warning for a child's film, or None when the header gives no age under ADULT_YEARS."""
    told = _age_told(meta)
    if told is None or told[0] >= ADULT_YEARS:
        return None
    return (f"the file gives the patient's age {told[1]}: every child's film these models learnt from was normal or a "
            "non-COVID pneumonia (Kermany, ages 1-5) and every COVID-19 film an adult's, so on a child's film the answer "
            "reflects age as much as the lungs; a non-COVID answer does not rule COVID-19 out")


def warn_on_child(result: ModelResult, meta: Mapping[str, Any], modality: str) -> ModelResult:
    """``result``, or a copy with the child warning when a radiograph model with a COVID-19 class answered on a
    child's film (a cached result is never changed)."""
    if result.status != STATUS_OK or modality != "CXR" or COVID not in result.probabilities:
        return result
    warning = child_warning(meta)
    return result if warning is None else replace(result, warnings=[*result.warnings, warning])
