"""``python -m covidviewer inspect PATH [--json]``: schema, sorted positions, warnings, exit codes."""
from __future__ import annotations

import json
import shutil

import pytest
from pydicom.data import get_testdata_file

from covidviewer.__main__ import main

SERIES_KEYS = {
    "key", "uid", "stack", "kind", "modality", "description", "number", "body_part", "view_position", "localizer",
    "num_images", "num_files", "first_file", "photometric", "transfer_syntax", "warnings", "error",
    "shape", "is_rgb", "spacing", "origin", "orientation", "direction", "first_position",
    "last_position", "min", "max", "default_window",
}


def _inspect_json(capsys, *args) -> dict:
    code = main(["inspect", *map(str, args), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_json_report_for_a_shuffled_ct_series_with_a_gap(tmp_path, capsys, write_series):
    write_series(tmp_path / "ct", 6, skip=(3,), size=(6, 5))
    shutil.copy(get_testdata_file("MR_truncated.dcm"), tmp_path / "broken.dcm")
    (tmp_path / "notes.txt").write_text("n")
    report = _inspect_json(capsys, tmp_path)
    assert set(report) == {"root", "cancelled", "warnings", "studies", "unreadable", "skipped", "library_warnings"}
    (study,) = report["studies"]
    assert set(study) == {"uid", "patient_name", "patient_id", "study_date", "description", "modalities", "series"}
    (series,) = study["series"]
    assert set(series) == SERIES_KEYS
    assert series["shape"] == [5, 6, 5] and series["num_images"] == 5
    assert series["spacing"] == pytest.approx([2.5, 0.7, 0.8])
    assert series["orientation"] == [1, 0, 0, 0, 1, 0]
    assert series["first_position"] == pytest.approx([-10, -20, -30])
    assert series["last_position"] == pytest.approx([-10, -20, -30 + 5 * 2.5])
    assert (series["min"], series["max"]) == (0.0, 50.0)
    assert any("missing slices" in w for w in series["warnings"])
    assert [u["path"].endswith("broken.dcm") for u in report["unreadable"]] == [True]
    assert report["unreadable"][0]["reason"]
    assert [s["path"].endswith("notes.txt") for s in report["skipped"]] == [True]


def test_json_reports_a_load_error_per_series_and_still_exits_zero(tmp_path, capsys, write_series):
    write_series(tmp_path, 3, size=(16, 16))
    report = _inspect_json(capsys, tmp_path, "--max-bytes", 100)
    (series,) = report["studies"][0]["series"]
    assert "memory" in series["error"] and "shape" not in series


def test_chest_radiograph_fields(capsys):
    report = _inspect_json(capsys, get_testdata_file("RG1_UNCI.dcm"))
    (series,) = report["studies"][0]["series"]
    assert (series["modality"], series["body_part"], series["view_position"]) == ("CR", "CHEST", "PA")
    assert series["photometric"] == "MONOCHROME1" and series["shape"] == [1, 1955, 1841]


def test_text_output_and_missing_path(tmp_path, capsys, write_series):
    write_series(tmp_path, 2, size=(4, 4))
    assert main(["inspect", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "shape (z, y, x) (2, 4, 4)" in text and "first position" in text
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_empty_folder_exits_zero_with_a_message(tmp_path, capsys):
    report = _inspect_json(capsys, tmp_path)
    assert report["studies"] == [] and "empty" in report["warnings"][0]
