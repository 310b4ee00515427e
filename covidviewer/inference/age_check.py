"""A child's chest film: the radiograph models never saw a child with COVID-19, so an answer says so.

In the training data every child's film (Kermany 2018, children of one to five years) is normal or a
bacterial or viral pneumonia, and every COVID-19 film is an adult's; the audit shows the models learnt age
(README, issue 12). On a child's film, then, "not COVID-19" is what they learnt a child's film to be, and
neither that answer nor a COVID-19 one is a reading of the lungs alone. The DICOM header often gives the
age (PatientAge, e.g. "007Y", "018M"): when it is under 18 years, every answer of a radiograph model with a
COVID-19 class carries a warning. Nothing changes the answer: unlike a film from before the pandemic
(``era_check``), a child can have COVID-19.

The age is ``covidviewer.io.patient_dates.patient_age``'s: PatientAge as written ("000Y" is no age), else the image's
own trusted date less PatientBirthDate, the age the corner text shows.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from covidviewer.inference.era_check import COVID
from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.io.patient_dates import patient_age

ADULT_YEARS = 18


def patient_age_years(meta: Mapping[str, Any]) -> float | None:
    """The patient's age in years from the header (PatientAge, else birth and image dates), or None."""
    told = patient_age(meta)
    return None if told is None else told[0]


def child_warning(meta: Mapping[str, Any]) -> str | None:
    """The warning for a child's film, or None when the header gives no age under ADULT_YEARS."""
    told = patient_age(meta)
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
