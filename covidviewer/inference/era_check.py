"""A film made before COVID-19 existed cannot show it: no "COVID-19" answer on it, whatever a model says.

The shipped classifiers still read hospital and age (README, issue 12): on the built-in 2004 chest
film DPN-SENet gives COVID-19 0.7-0.8. The DICOM header often knows better than the pixels. When the
image's own date (AcquisitionDate, then ContentDate, SeriesDate, StudyDate: the first one present)
is before December 2019, when the first cases were reported, the answer becomes the most probable
of the OTHER classes; the model's probabilities stay as they were (a researcher wants to see the
false alarm), and the result says why in its threshold line and its warnings.

Dates (``covidviewer.io.patient_dates.image_date``) are not trusted when the file says
de-identification changed them (Longitudinal Temporal Information Modified = MODIFIED or REMOVED,
DICOM PS3.15) or when they are placeholders (before 1970, e.g. 19000101 written by anonymisers, ours
included). A user whose de-identified files shift dates without saying so turns the check off
(``predict --no-date-check``, RunOptions.date_check).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any, Mapping

from covidviewer.inference.results import STATUS_OK, ModelResult
from covidviewer.io.patient_dates import image_date
from covidviewer.models.same_source import CAVEAT_PREFIX

FIRST_COVID_CASES = date(2019, 12, 1)  # first reported cases, Wuhan, December 2019 (WHO)
COVID = "COVID-19"


def before_covid(meta: Mapping[str, Any]) -> str | None:
    """Why COVID-19 cannot be the answer on this image (its date), or None."""
    dated = image_date(meta)
    if dated is None or dated[0] >= FIRST_COVID_CASES:
        return None
    when, name = dated
    return f"the image is dated {when.isoformat()} ({name} date), before the first COVID-19 cases (December 2019)"


def exclude_covid_before_2019(result: ModelResult, meta: Mapping[str, Any]) -> ModelResult:
    """``result`` unchanged, or, when it answers COVID-19 on an image dated before the pandemic, a copy
    whose answer is the most probable other class (see the module doc)."""
    why = before_covid(meta)
    answered_covid = result.answer == COVID
    if why is None or result.status != STATUS_OK or not answered_covid or COVID not in result.probabilities:
        return result  # another answer on an old film needs no correction
    others = {c: p for c, p in result.probabilities.items() if c != COVID}
    if not others:
        return result
    answer = max(others, key=lambda c: others[c])
    score = result.probabilities[COVID]
    warning = (f"{why}: COVID-19 is excluded; the model's COVID-19 probability {score:.2f} on it is a false alarm "
               "(it reads something other than the disease)")
    # the same-source caveats speak of the COVID-19 answer, which is gone
    kept = [w for w in result.warnings if not w.startswith(CAVEAT_PREFIX)]
    return replace(result, decision=answer if result.decision else result.decision, label=answer,
                   threshold=f"COVID-19 excluded: {why}; most probable other class",
                   warnings=[*kept, warning])
