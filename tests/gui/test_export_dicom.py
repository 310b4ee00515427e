"""Analysis > "Save as DICOM Secondary Capture + SR..." (issue 17, item 8) and the export dialogs'
defaults (item 9): last folder, else Pictures / Documents; a name of study, series, slice, model
and method, never the patient. The file dialogs are mocked; the models are the hand-set test
networks of analysis_support."""
from __future__ import annotations

import shutil
import subprocess

import pydicom
import pytest
from analysis_support import (  # noqa: F401 (app_window, square_models: fixtures)
    RUN_TIMEOUT_MS,
    analyse_and_wait,
    app_window,
    chest_ct_volume,
    show,
    square_models,
    tick,
)
from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QDialog, QFileDialog

from covidviewer.io import load_path, sample_paths
from covidviewer.ui.analysis.dicom_dialog import DicomExportDialog
from covidviewer.ui.analysis.export_actions import DICOM_ACTION_TEXT, EXPORT_DIR_KEY

pytestmark = pytest.mark.gui

PATIENT = ("CompressedSamples", "RG1", "9RG1")  # RG1_UNCI's patient name and ID


@pytest.fixture
def analysed_cr(qtbot, app_window, square_models):
    """The real PA chest CR (RG1_UNCI) analysed by tiny_cxr with its map shown."""
    window, analysis = app_window
    show(qtbot, window, analysis, load_path(sample_paths()["chest_cr"]))
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    assert analysis.errors == [] and analysis.current_key is not None
    return window, analysis


@pytest.fixture
def user_folders(tmp_path, monkeypatch):
    """Pictures and Documents folders of a pretend user (QStandardPaths answers with them)."""
    folders = {QStandardPaths.StandardLocation.PicturesLocation: tmp_path / "Pictures",
               QStandardPaths.StandardLocation.DocumentsLocation: tmp_path / "Documents"}
    for folder in folders.values():
        folder.mkdir()
    monkeypatch.setattr(QStandardPaths, "writableLocation", staticmethod(lambda location: str(folders.get(location, tmp_path))))
    return folders


def menu_action(window, text):
    analysis_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Analysis")
    return next((a for a in analysis_menu.actions() if a.text() == text), None)


def test_the_analysis_menu_saves_an_anonymised_sc_and_sr_into_the_chosen_folder(qtbot, analysed_cr, tmp_path, monkeypatch):
    window, analysis = analysed_cr
    action = menu_action(window, DICOM_ACTION_TEXT)
    assert action is analysis.exports.dicom_action and action.isEnabled()
    out = tmp_path / "dicom-out"
    out.mkdir()
    asked = []

    def user_accepts(dialog: DicomExportDialog) -> int:
        asked.append((dialog.folder_edit.text(), dialog.name_edit.text(), dialog.anonymise_box.isChecked()))
        dialog.browse()  # the mocked folder chooser below answers
        dialog.anonymise_box.setChecked(True)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    monkeypatch.setattr(DicomExportDialog, "exec", user_accepts)
    with qtbot.waitSignal(analysis.exports.exported, timeout=RUN_TIMEOUT_MS) as written:
        action.trigger()
    assert analysis.errors == []
    (folder, name, anonymise_offered), = asked
    assert not anonymise_offered and name.startswith("THORAX_S1_tiny_cxr") and not any(p in name for p in PATIENT)
    assert sorted(p.name for p in out.iterdir()) == [f"{name}_SC.dcm", f"{name}_SR.dcm"]
    assert written.args[0] == out / f"{name}_SC.dcm"
    sc, sr = pydicom.dcmread(out / f"{name}_SC.dcm"), pydicom.dcmread(out / f"{name}_SR.dcm")
    for ds in (sc, sr):
        assert ds.PatientIdentityRemoved == "YES" and not any(p in str(ds) for p in PATIENT)
    assert sc.StudyInstanceUID == sr.StudyInstanceUID
    source = pydicom.dcmread(sample_paths()["chest_cr"], stop_before_pixels=True)
    assert sc.StudyInstanceUID != source.StudyInstanceUID  # replaced, consistently in both
    rows, cols = sc.pixel_array.shape[:2]
    assert cols == source.Columns and rows > source.Rows  # the whole view, with the caption band below
    assert all(t in sc.ImageComments for t in ("tiny_cxr", "series 1", "Research use only"))
    assert "tiny_cxr" in {str(e.value) for e in sr.iterall() if e.keyword == "TextValue"}
    if shutil.which("dciodvfy"):
        for path in out.iterdir():
            report = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
            assert not [x for x in (report.stdout + report.stderr).splitlines() if x.startswith("Error")]
    assert str(window.settings.qsettings.value("analysis/dicom_anonymise")).lower() == "true"  # remembered


def test_dicom_is_refused_into_the_source_folder_and_for_non_dicom_images(qtbot, app_window, square_models, tmp_path):
    import cv2
    import numpy as np

    window, analysis = app_window
    study = tmp_path / "study"
    study.mkdir()
    source = shutil.copy(sample_paths()["chest_cr"], study / "IMG1.dcm")
    show(qtbot, window, analysis, load_path(source))
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    assert analysis.exports.dicom(study, "x") is not None  # refused in the worker, reported
    qtbot.waitUntil(lambda: bool(analysis.errors), timeout=RUN_TIMEOUT_MS)
    assert "holds the source images" in analysis.errors[-1]
    assert [p.name for p in study.iterdir()] == ["IMG1.dcm"]

    png = tmp_path / "chest.png"
    cv2.imwrite(str(png), np.full((300, 240), 80, dtype=np.uint8))
    show(qtbot, window, analysis, load_path(png))
    tick(analysis, "tiny_cxr")
    analyse_and_wait(qtbot, analysis)
    assert analysis.exports.dicom(tmp_path, "y") is None
    assert not list(tmp_path.glob("y_*.dcm"))


def test_save_dialogs_start_in_pictures_then_the_last_folder_with_a_patient_less_name(qtbot, analysed_cr, user_folders, monkeypatch):
    window, analysis = analysed_cr
    proposed = []

    def cancel(parent, title, start, filters):
        proposed.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(cancel))
    assert analysis.export_png() is None and analysis.export_json() is None
    pictures = user_folders[QStandardPaths.StandardLocation.PicturesLocation]
    png, json_ = proposed
    assert png == str(pictures / "THORAX_S1_tiny_cxr_Grad-CAM.png")
    assert json_ == str(pictures / "THORAX_S1_predictions.json")

    shutil.rmtree(pictures)  # no Pictures folder: Documents
    assert analysis.exports.default_folder() == str(user_folders[QStandardPaths.StandardLocation.DocumentsLocation])
    last = pictures.parent / "exports"
    last.mkdir()
    window.settings.qsettings.setValue(EXPORT_DIR_KEY, str(last))
    assert analysis.exports.default_folder() == str(last)


def test_a_ct_export_is_named_and_captioned_with_its_series_and_slice(qtbot, app_window):
    window, analysis = app_window
    volume = chest_ct_volume()
    volume.meta.update(study_description="CT THORAX", series_number="4", series_description="Lung 1mm",
                       patient_name="DOE^JANE", patient_id="P77")
    window.state.set_volume(volume)
    window.state.slice_index = 13
    number = getattr(window.state, "slice_number", window.state.slice_index + 1)
    stem = analysis.exports.default_stem("tiny_ctslice", "gradcam")
    assert stem == f"CT-THORAX_S4-Lung-1mm_axial-{number}-of-24_tiny_ctslice_Grad-CAM"
    assert analysis.exports._where() == f"series 4 Lung 1mm  axial slice {number}/24"


def test_the_sc_keeps_the_source_orientation_only_while_the_view_is_not_turned(qtbot, analysed_cr, tmp_path):
    window, analysis = analysed_cr
    written = []
    for name, turn in (("plain", 0), ("turned", 1)):
        if turn:
            window.state.rotate(turn)
        with qtbot.waitSignal(analysis.exports.exported, timeout=RUN_TIMEOUT_MS) as done:
            assert analysis.exports.dicom(tmp_path, name) is not None  # no dialog with a folder given
        written.append(pydicom.dcmread(done.args[0]))
    plain, turned = written
    assert list(plain.PatientOrientation) == ["L", "F"]  # RG1_UNCI's own (PA film)
    assert "PatientOrientation" in turned and not turned.PatientOrientation  # Type 2: empty, not wrong
    assert plain.get("PatientIdentityRemoved") is None and "CompressedSamples" in str(plain.PatientName)
