"""An image's own date and the patient's age at it, from a DICOM file's header (Volume.meta), Qt- and torch-free.

The date check (``inference.era_check``), the child check (``inference.age_check``) and the corner text read them
here, so the age a warning names is the age the reader sees on the image.

Dates are not trusted when the file says de-identification changed them (Longitudinal Temporal Information Modified =
MODIFIED or REMOVED, PS3.15) or when they are placeholders (an image dated before 1970, e.g. 19000101 written by
anonymisers). PatientAge ("007Y", "018M") is taken as written, "000Y" as no age (anonymisers write it; an infant's
age is given in days, weeks or months); where it is absent, as it often is, the age is the image's own date less
PatientBirthDate, as Weasis and OHIF show it, when that date is trusted and the birth date is before it (an anonymiser
that writes the study date as the birth date gives no age).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Mapping

OLDEST_REAL_DATE = date(1970, 1, 1)  # earlier image dates are anonymisers' placeholders, not acquisitions
#: the image's own date first: a study can be dated after its oldest images (RG1_UNCI: content 1995, study 2004)
DATE_FIELDS = (("acquisition_date", "acquisition"), ("content_date", "content"), ("series_date", "series"), ("study_date", "study"))
UNTRUSTED_DATES = ("MODIFIED", "REMOVED")
#: DICOM Age String (PS3.5): three digits and a unit
_AGE = re.compile(r"^(\d{3})([DWMY])$")
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def dicom_date(text: Any) -> date | None:
    """YYYYMMDD (any separators) as a date, or None."""
    digits = "".join(ch for ch in str(text or "") if ch.isdigit())[:8]
    if len(digits) != 8:
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def shown_date(value: str) -> str:
    """A DICOM date as a reader reads it, YYYY-MM-DD (from YYYYMMDD, or ACR-NEMA's YYYY.MM.DD that old files still
    carry); anything else unchanged."""
    parsed = dicom_date(value) if len(str(value).strip()) in (8, 10) else None
    return parsed.isoformat() if parsed is not None else value


def image_date(meta: Mapping[str, Any]) -> tuple[date, str] | None:
    """(date, which DICOM date it is) of the image, or None when the file has no date worth trusting."""
    if str(meta.get("dates_modified", "")).upper() in UNTRUSTED_DATES:
        return None
    for key, name in DATE_FIELDS:
        when = dicom_date(meta.get(key, ""))
        if when is not None and when >= OLDEST_REAL_DATE:
            return when, name
    return None


def patient_age(meta: Mapping[str, Any]) -> tuple[float, str] | None:
    """(age in years, how the file tells it) or None: PatientAge as written ("as 007Y"), else the birth and image
    dates ("as born 2015-03-02, imaged 2020-05-01 (study date): 5.2 years")."""
    text = str(meta.get("patient_age") or "").strip().upper()
    match = _AGE.match(text)
    if match is not None:
        return None if text == "000Y" else (int(match.group(1)) * _UNIT_YEARS[match.group(2)], f"as {text}")
    born, imaged = dicom_date(meta.get("patient_birth_date")), image_date(meta)
    if born is None or imaged is None or born >= imaged[0]:
        return None
    years = (imaged[0] - born).days / 365.25
    return years, f"as born {born.isoformat()}, imaged {imaged[0].isoformat()} ({imaged[1]} date): {years:.1f} years"


def age_shown(meta: Mapping[str, Any]) -> str:
    """The age for the corner text: PatientAge as written, else the age from the birth and image dates in the same
    form ("055Y", "018M" under two years); "" when neither is known."""
    written = str(meta.get("patient_age") or "").strip()
    if written:
        return written
    told = patient_age(meta)
    if told is None:
        return ""
    years = told[0]
    return f"{int(years):03d}Y" if years >= 2 else f"{int(years * 12):03d}M"
