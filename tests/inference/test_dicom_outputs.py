"""DICOM outputs (issue 17, item 8): Secondary Capture + Comprehensive SR (TID 1500) written with
highdicom over real pydicom / pydicom-data files, anonymisation after PS3.15's Basic Profile, and
``dciodvfy`` (dicom3tools) finding no errors in what is written."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from covidviewer.inference.dicom_export import (
    OWN_DESCRIPTORS,
    DicomExportError,
    MeasurementRecord,
    UIDMap,
    dicom_source,
    write_dicom_outputs,
)
from covidviewer.inference.dicom_export.anonymise import identifying_values, uids_in
from covidviewer.inference.results import ModelResult
from covidviewer.io import load_path, sample_paths

DCIODVFY = shutil.which("dciodvfy")
SHA = "0123456789abcdef" * 4


def model_result(slice_index: int | None = None, stages: tuple[ModelResult, ...] = ()) -> ModelResult:
    probs = {"COVID-19": 0.62, "normal": 0.2, "bacterial pneumonia": 0.1, "viral pneumonia (non-COVID)": 0.08}
    return ModelResult(
        model="dpn92_se", status="ok", version="3", classes=tuple(probs), probabilities=probs, label="COVID-19",
        weights_sha256=SHA, method="gradcam", calibrated=True, ood_score=4.25, ood_flag=True, decision="COVID-19",
        threshold="COVID-19 p 0.62 \u2265 operating threshold 0.14", slice_index=slice_index, stages=list(stages),
    )


def view_pixels(rows: int = 96, cols: int = 80) -> np.ndarray:
    rgb = np.zeros((rows, cols, 3), dtype=np.uint8)
    rgb[10:50, 20:60] = (255, 120, 0)
    return rgb


def measurements(z: int) -> list[MeasurementRecord]:
    return [
        MeasurementRecord("length", z, ((10.0, 12.0), (40.0, 52.0)), {"length": 31.5}, label="line 1"),
        MeasurementRecord("angle", z, ((10.0, 10.0), (30.0, 30.0), (50.0, 10.0)), {"angle": 90.0}),
        MeasurementRecord("roi", z, ((5.0, 5.0), (25.0, 5.0), (25.0, 25.0), (5.0, 25.0)),
                          {"area": 400.0, "mean": -712.0, "sd": 35.5, "min": -900.0, "max": -400.0}, unit="HU"),
    ]


@pytest.fixture(params=["chest_cr", "ct", "ct_multiframe"])
def sample(request):
    """(name, Volume) of each real sample: a PA chest CR, a CT slice, an enhanced multi-frame CT."""
    path = sample_paths().get(request.param)
    if path is None:
        pytest.skip(f"sample {request.param} is not installed")
    return request.param, load_path(path)


def dciodvfy_report(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) lines dciodvfy prints for ``path``."""
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [x for x in lines if x.startswith("Error")], [x for x in lines if x.startswith("Warning")]


@pytest.mark.parametrize("anonymised", [False, True])
def test_sc_and_sr_reference_the_source_study_series_and_image(sample, anonymised, tmp_path):
    name, volume = sample
    z = volume.shape[0] - 1
    source = dicom_source(volume, z)
    original = source.shown
    before = str(original)
    uid_map = UIDMap()
    out = write_dicom_outputs(view_pixels(), source, model_result(z), tmp_path, name, captions=["dpn92_se v3"],
                              measurements=measurements(z), anonymised=anonymised, uid_map=uid_map)
    assert {p.name for p in tmp_path.iterdir()} == {f"{name}_SC.dcm", f"{name}_SR.dcm"}
    assert str(original) == before  # the source header is not changed (anonymisation works on copies)
    sc, sr = pydicom.dcmread(out.secondary_capture), pydicom.dcmread(out.report)
    study, series, instance = (str(original[k].value) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))
    if anonymised:
        study, series, instance = uid_map(study), uid_map(series), uid_map(instance)
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
    assert sc.StudyInstanceUID == sr.StudyInstanceUID == study
    assert len({sc.SeriesInstanceUID, sr.SeriesInstanceUID, series}) == 3  # two new series in the study
    assert sc.RelatedSeriesSequence[0].SeriesInstanceUID == series
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == instance
    np.testing.assert_array_equal(sc.pixel_array, view_pixels())
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == study
    referenced = {(s.SeriesInstanceUID, r.ReferencedSOPInstanceUID) for s in evidence.ReferencedSeriesSequence
                  for r in s.ReferencedSOPSequence}
    assert referenced == {(series, instance), (sc.SeriesInstanceUID, sc.SOPInstanceUID)}


def test_a_multiframe_slice_is_referenced_by_the_frame_at_its_position():
    volume = load_path(sample_paths()["ct_multiframe"])  # eCT_Supplemental: 2 frames with positions
    from covidviewer.io.dicom_header import position_of

    for z in range(volume.shape[0]):
        source = dicom_source(volume, z)
        (frame,) = source.frame_numbers(z)
        np.testing.assert_allclose(position_of(source.shown, frame=frame - 1), volume.voxel_to_patient(z, 0, 0), atol=1e-3)


def test_sr_holds_model_version_weights_scores_decision_rule_ood_and_measurements(tmp_path):
    volume = load_path(sample_paths()["chest_cr"])
    stage = ModelResult(model="seme_resnet50", status="ok", version="2", probabilities={"normal": 0.9, "viral pneumonia": 0.1},
                        label="normal", weights_sha256="f" * 64, method="gradcam")
    out = write_dicom_outputs(view_pixels(), dicom_source(volume, 0), model_result(stages=(stage,)), tmp_path, "cr",
                              measurements=measurements(0))
    sr = pydicom.dcmread(out.report)
    texts = [str(e.value) for e in sr.iterall() if e.keyword in ("TextValue", "CodeMeaning", "UID")]
    numbers = {(item.ConceptNameCodeSequence[0].CodeMeaning, float(item.MeasuredValueSequence[0].NumericValue))
               for item in _items(sr) if item.ValueType == "NUM"}
    assert "dpn92_se" in texts and "3" in texts and f"weights_sha256={SHA}" in texts
    assert "decision_rule=COVID-19 p 0.62 >= operating threshold 0.14" in texts
    assert {("COVID-19", 0.62), ("Normal", 0.2), ("Bacterial pneumonia", 0.1)} <= numbers
    assert ("Distance of the input to the training data", 4.25) in numbers
    assert ("Length", 31.5) in numbers and ("Angle", 90.0) in numbers and ("Mean", -712.0) in numbers
    codes = {(item.ConceptNameCodeSequence[0].CodeMeaning, item.ConceptCodeSequence[0].CodeMeaning)
             for item in _items(sr) if item.ValueType == "CODE"}
    assert ("Finding", "COVID-19") in codes and ("Input outside the training distribution", "Yes") in codes
    assert "seme_resnet50" in texts and ("Finding", "Normal") in codes  # the cascade stage's own group
    assert any("Research use only" in t for t in texts)
    assert sum(item.ValueType == "SCOORD" for item in _items(sr)) == 3
    assert sr.PreliminaryFlag == "PRELIMINARY" and sr.VerificationFlag == "UNVERIFIED"


def test_without_an_ood_model_the_report_states_no_ood_flag(tmp_path):
    volume = load_path(sample_paths()["chest_cr"])
    result = model_result()
    result.ood_score, result.ood_flag = None, False  # a card without an OOD model: not assessed
    out = write_dicom_outputs(view_pixels(), dicom_source(volume, 0), result, tmp_path, "bare")
    names = {i.ConceptNameCodeSequence[0].CodeMeaning for i in _items(pydicom.dcmread(out.report))}
    assert "Finding" in names and "Input outside the training distribution" not in names
    result.ood_score = 1.5
    out = write_dicom_outputs(view_pixels(), dicom_source(volume, 0), result, tmp_path, "assessed")
    codes = {(i.ConceptNameCodeSequence[0].CodeMeaning, i.ConceptCodeSequence[0].CodeMeaning)
             for i in _items(pydicom.dcmread(out.report)) if i.ValueType == "CODE"}
    assert ("Input outside the training distribution", "No") in codes


def text_outside_uids(ds: pydicom.Dataset) -> str:
    """Every value but the UIDs, a sequence's items one by one. A new UID's random digits hold a short number such as
    the source's Other Patient ID 26210 about once in a hundred outputs; UIDs are checked on their own."""
    elements = [*ds.iterall(), *ds.file_meta]
    return "\n".join(f"{el.name}: {el.value}" for el in elements if el.VR not in ("UI", "SQ"))


def test_text_outside_uids_skips_uids_only():
    ds = pydicom.Dataset()
    ds.OtherPatientIDs, ds.SeriesInstanceUID = "26210", "1.2.3.26210"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    assert "26210" in text_outside_uids(ds) and "1.2.3" not in text_outside_uids(ds)


def test_anonymised_outputs_hold_no_patient_identifiers_and_map_uids_consistently(tmp_path):
    volume = load_path(sample_paths()["chest_cr"])  # PatientName CompressedSamples^RG1, ID 9RG1, born 19400305
    source = dicom_source(volume, 0)
    uid_map = UIDMap()
    first = write_dicom_outputs(view_pixels(), source, model_result(), tmp_path, "a", anonymised=True, uid_map=uid_map)
    second = write_dicom_outputs(view_pixels(), source, model_result(), tmp_path, "b", anonymised=True, uid_map=uid_map)
    original = source.shown
    secrets = {"CompressedSamples", "9RG1", "19400305", "26210", "exam Number", "ward", "THORAVISION", "Philips Medical Systems Hamburg"}
    original_uids = set(uids_in(original))
    outputs = [pydicom.dcmread(p) for p in (first.secondary_capture, first.report, second.secondary_capture, second.report)]
    for ds in outputs:
        dump = text_outside_uids(ds)
        assert not any(secret in dump for secret in secrets), [s for s in secrets if s in dump]
        assert not original_uids & set(uids_in(ds))
        own = {str(ds.get(k)) for k in OWN_DESCRIPTORS}  # notice and captions, kept (Clean Descriptors Option)
        assert not identifying_values(ds) - {"Anonymous^", "19000101", "000000", "ANON", ds.PatientID} - own
        assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "Research use only" in ds.SeriesDescription  # own descriptors kept (Clean Descriptors Option)
    assert len({ds.StudyInstanceUID for ds in outputs}) == 1 and len({ds.PatientID for ds in outputs}) == 1
    assert outputs[0].StudyInstanceUID == uid_map(original.StudyInstanceUID)
    assert outputs[0].PatientID.startswith("ANON") and outputs[0].PatientID != original.PatientID


def test_outputs_are_never_written_beside_the_source_files(tmp_path):
    source_dir = tmp_path / "study"
    source_dir.mkdir()
    path = Path(shutil.copy(sample_paths()["ct"], source_dir / "IMG1.dcm"))
    source = dicom_source(load_path(path), 0)
    with pytest.raises(DicomExportError, match="holds the source images"):
        write_dicom_outputs(view_pixels(), source, model_result(), source_dir, "x")
    assert [p.name for p in source_dir.iterdir()] == ["IMG1.dcm"]
    out = tmp_path / "out"
    out.mkdir()
    written = write_dicom_outputs(view_pixels(), source, model_result(), out, "x")
    assert written.secondary_capture.parent == out


def test_non_dicom_inputs_and_burned_in_identifiers_are_refused(tmp_path):
    import cv2

    png = tmp_path / "chest.png"
    cv2.imwrite(str(png), np.zeros((16, 16), dtype=np.uint8))
    with pytest.raises(DicomExportError, match="need a DICOM source"):
        dicom_source(load_path(png), 0)
    source = dicom_source(load_path(sample_paths()["chest_cr"]), 0)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DicomExportError, match="burned-in"):
        write_dicom_outputs(view_pixels(), source, model_result(), out, "x", anonymised=True, burned_in_identifiers=True)
    assert not list(out.iterdir())


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
@pytest.mark.parametrize("anonymised", [False, True])
def test_dciodvfy_finds_no_errors(sample, anonymised, tmp_path):
    name, volume = sample
    z = volume.shape[0] // 2
    out = write_dicom_outputs(view_pixels(), dicom_source(volume, z), model_result(z), tmp_path, name,
                              captions=["dpn92_se v3 - Grad-CAM"], measurements=measurements(z), anonymised=anonymised)
    for path in (out.secondary_capture, out.report):
        errors, warnings = dciodvfy_report(path)
        assert errors == [], f"{path.name}: {errors}"
        # Known, accepted warnings: the private coding scheme's designator (99CVWR, not a DICOM
        # defined term), the source's own zero Patient's Weight (CT_small), and an empty
        # Laterality where the source does not name the body part.
        unexpected = [w for w in warnings if not any(k in w for k in ("99CVWR", "Patient's Weight", "<Laterality>"))]
        assert unexpected == [], f"{path.name}: {unexpected}"


def _items(ds):
    """Every SR content item, depth first."""
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _items(item)
