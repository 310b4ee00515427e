"""A radiograph model's COVID-19 answer as the warning checks receive it (size_check, detail_check): built by hand, no
model needed."""
from __future__ import annotations

from covidviewer.inference.results import STATUS_OK, ModelResult

PROBS = {"COVID-19": 0.60, "normal": 0.20, "bacterial pneumonia": 0.15, "viral pneumonia": 0.05}


def covid_answer(status: str = STATUS_OK, probabilities: dict | None = None) -> ModelResult:
    """DPN-SENet's answer COVID-19 with ``probabilities`` (default ``PROBS``) and one warning of the loader's."""
    probs = dict(PROBS) if probabilities is None else probabilities
    return ModelResult("dpn92_se", status, classes=tuple(probs), probabilities=probs, label="COVID-19",
                       decision="COVID-19", warnings=["loader note"])
