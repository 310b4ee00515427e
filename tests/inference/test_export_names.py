"""Default export names (issue 17, item 9): study description + series + slice + model + method,
safe on every file system, never the patient."""
from __future__ import annotations

import pytest

from covidviewer.inference.result_files import export_file_stem

CT_META = {
    "study_description": "CT THORAX Smith", "series_number": "3", "series_description": "Lung 1.25mm / axial",
    "patient_name": "SMITH^JOHN", "patient_id": "12345",
}


@pytest.mark.parametrize(("meta", "kwargs", "expected"), [
    (CT_META, {"slice_text": "axial 12 of 40", "model": "dresunet", "method": "Grad-CAM++"},
     "CT-THORAX_S3-Lung-1.25mm-axial_axial-12-of-40_dresunet_Grad-CAM++"),
    ({"study_description": "THORAX", "series_number": "1", "patient_name": "CompressedSamples^RG1"},
     {"model": "dpn92_se", "method": "LIME"}, "THORAX_S1_dpn92_se_LIME"),
    ({"study_description": 'a/b\\c:d*e?f"g<h>i|j'}, {"model": "m"}, "a-b-c-d-e-f-g-h-i-j_m"),
    ({"study_description": "Thorax 12345", "patient_id": "12345"}, {}, "Thorax"),
    ({}, {}, "covidviewer"),
    ({"study_description": "CON"}, {}, "covidviewer_CON"),
    ({"study_description": "..."}, {"model": "m"}, "m"),
])
def test_export_file_stem(meta, kwargs, expected):
    assert export_file_stem(meta, **kwargs) == expected


def test_export_file_stem_is_bounded_and_keeps_non_latin_letters():
    stem = export_file_stem({"study_description": "Thorax " * 40, "series_description": "Lunge \u00fcber"}, model="m")
    assert len(stem) <= 96 and not stem.endswith(("-", "_", "."))
    assert "\u00fcber" in export_file_stem({"study_description": "\u00fcber"})
