"""``covidviewer predict``: JSON schema on the real RG1_UNCI chest CR, maps as PNG + .npy, unavailable
models reported with the trainer command, refusals and unreadable inputs, nothing written outside --out."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from covidviewer import RESEARCH_NOTICE
from covidviewer.__main__ import main
from covidviewer.io import sample_paths
from covidviewer.models.cascade import PARTS


@pytest.fixture(scope="module")
def chest_cr() -> Path:
    return sample_paths()["chest_cr"]


def _read(out: Path, stem: str) -> dict:
    return json.loads((out / f"{stem}.json").read_text())


def test_predict_json_schema_and_maps_on_real_chest_cr(tiny_weights, chest_cr: Path, tmp_path: Path) -> None:
    tiny_weights("dpn92_se")
    out = tmp_path / "out"
    # --no-date-check: the film is dated 1995, and whether the era check turns the untrained weights'
    # answer away from COVID-19 would depend on their random draw (test_era_check.py tests it)
    assert main(["predict", str(chest_cr), "--model", "dpn92_se,vgg16_ga", "--explain", "gradcam", "--out", str(out),
                 "--device", "cpu", "--no-date-check"]) == 0
    doc = _read(out, "RG1_UNCI")
    assert doc["input"] == str(chest_cr) and doc["status"] == "ok" and doc["reason"] == ""
    assert doc["notice"] == RESEARCH_NOTICE and len(doc["image_sha256"]) == 64
    (dpn,) = doc["models"]
    assert dpn["model"] == "dpn92_se" and dpn["status"] == "ok" and dpn["version"] == "1"
    assert set(dpn["probabilities"]) == {"COVID-19", "normal", "bacterial pneumonia", "viral pneumonia"}
    assert sum(dpn["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert dpn["label"] == max(dpn["probabilities"], key=dpn["probabilities"].get)
    assert len(dpn["weights_sha256"]) == 64 and dpn["device"] == "cpu" and dpn["method"] == "gradcam"
    assert {"load_s", "preprocess_s", "explain_s", "total_s"} <= set(dpn["timings"])
    assert isinstance(dpn["warnings"], list)
    # no calibration on this card: raw probabilities, argmax decision, no OOD score
    assert dpn["calibrated"] is False and dpn["decision"] == dpn["label"] and dpn["threshold"] == ""
    assert dpn["ood_score"] is None and dpn["ood_flag"] is False
    # the map: float32 on the ORIGINAL 1955 x 1841 grid, and an overlay PNG with a caption band
    heat = np.load(out / dpn["maps"]["npy"])
    assert heat.shape == (1955, 1841) and heat.dtype == np.float32 and 0 <= heat.min() and heat.max() <= 1
    png = cv2.imread(str(out / dpn["maps"]["png"]))
    assert png.shape[1] == 1841 and png.shape[0] > 1955
    # vgg16_ga has no weights here: listed as unavailable, with how to train it
    (vgg,) = doc["unavailable"]
    assert vgg["model"] == "vgg16_ga" and vgg["status"] == "unavailable"
    assert "no trained weights" in vgg["reason"] and "python -m trainer fit vgg16_ga" in vgg["trainer_command"]
    assert "probabilities" not in vgg
    assert sorted(p.name for p in out.iterdir()) == sorted(["RG1_UNCI.json", dpn["maps"]["npy"], dpn["maps"]["png"], "answers.csv"])
    # one row per answer, as the JSON gives it: the model's answer and p(COVID-19), the unavailable model and why
    rows = {row["answered_by"]: row for row in csv.DictReader(open(out / "answers.csv", encoding="utf-8"))}
    assert rows["dpn92_se"]["answer"] == dpn["decision"] and rows["dpn92_se"]["status"] == "ok"
    assert float(rows["dpn92_se"]["p_covid"]) == pytest.approx(dpn["probabilities"]["COVID-19"], abs=1e-4)
    assert rows["vgg16_ga"]["status"] == "unavailable" and "no trained weights" in rows["vgg16_ga"]["reason"]
    assert {row["result_file"] for row in rows.values()} == {"RG1_UNCI.json"}


def test_model_without_weights_is_unavailable_and_exit_is_zero(tiny_weights, chest_cr: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(chest_cr), "--model", "all", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    doc = _read(out, "RG1_UNCI")
    assert doc["status"] == "refused" and "no applicable model has trained weights" in doc["reason"]
    assert doc["models"] == []
    assert {m["model"] for m in doc["unavailable"]} == {"dpn92_se", "cascade_semenet", "vgg16_ga", "small_cnn"}
    assert "darnet" in doc["not_applicable"] and "dresunet" in doc["not_applicable"]
    assert sorted(p.name for p in out.iterdir()) == ["RG1_UNCI.json", "answers.csv"]


def test_cascade_reports_both_stages(tiny_weights, chest_cr: Path, tmp_path: Path) -> None:
    for part in PARTS.values():
        tiny_weights(part)
    out = tmp_path / "out"
    assert main(["predict", str(chest_cr), "--model", "cascade_semenet", "--explain", "cam", "--out", str(out), "--device", "cpu"]) == 0
    (cascade,) = _read(out, "RG1_UNCI")["models"]
    assert cascade["status"] == "ok"
    assert list(cascade["probabilities"]) == ["normal", "bacterial pneumonia", "viral pneumonia (non-COVID)", "COVID-19"]
    assert sum(cascade["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    stage1, stage2 = cascade["stages"]
    assert stage1["model"] == "seme_resnet50" and stage2["model"] == "seme_densenet169"
    viral = stage1["probabilities"]["viral pneumonia"]
    assert cascade["probabilities"]["COVID-19"] == pytest.approx(viral * stage2["probabilities"]["COVID-19"], abs=1e-5)
    for entry in (cascade, stage1, stage2):
        assert np.load(out / entry["maps"]["npy"]).shape == (1955, 1841)


def test_refused_and_unreadable_inputs_in_a_folder(tiny_weights, tmp_path: Path) -> None:
    tiny_weights("dpn92_se")
    folder = tmp_path / "in"
    folder.mkdir()
    photo = np.zeros((120, 160, 3), np.uint8)
    photo[..., 2] = np.linspace(0, 255, 160, dtype=np.uint8)  # a colour gradient: not grey
    cv2.imwrite(str(folder / "photo.png"), photo)
    cv2.imwrite(str(folder / "thumb.png"), np.full((40, 40), 128, np.uint8))
    (folder / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage")
    before = sorted(p.name for p in folder.iterdir())
    out = tmp_path / "out"
    code = main(["predict", str(folder), "--model", "dpn92_se", "--out", str(out), "--device", "cpu", "--quiet"])
    docs = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert docs["photo"]["status"] == "refused" and "colour" in docs["photo"]["reason"]
    assert docs["thumb"]["status"] == "refused" and "too small" in docs["thumb"]["reason"]
    assert "probabilities" not in docs["photo"]["models"][0]
    broken = [d for name, d in docs.items() if name.startswith("broken")]
    assert broken and broken[0]["status"] == "error" and broken[0]["reason"]
    assert code == 1  # one input could not be read
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written next to the inputs
    rows = list(csv.DictReader(open(out / "answers.csv", encoding="utf-8")))
    by_file = {row["result_file"].split(".")[0].split("_")[0]: row for row in rows}
    assert by_file["photo"]["status"] == "refused" and "colour" in by_file["photo"]["reason"]
    assert by_file["broken"]["status"] == "error" and by_file["broken"]["answered_by"] == ""


def test_an_answers_csv_already_in_out_is_kept_and_the_run_writes_its_own(tiny_weights, chest_cr: Path, tmp_path: Path) -> None:
    tiny_weights("dpn92_se")
    out = tmp_path / "out"
    out.mkdir()
    (out / "answers.csv").write_text("the reader's own table\n")
    assert main(["predict", str(chest_cr), "--model", "dpn92_se", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    assert (out / "answers.csv").read_text() == "the reader's own table\n"
    (row,) = csv.DictReader(open(out / "answers_2.csv", encoding="utf-8"))
    assert row["answered_by"] == "dpn92_se" and row["status"] == "ok" and row["view"] == "PA"


def test_bad_arguments(tmp_path: Path, chest_cr: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["predict", str(chest_cr), "--explain", "nope", "--out", str(tmp_path)])
    assert main(["predict", str(chest_cr), "--device", "tpu", "--out", str(tmp_path)]) == 2
    for option, says in (("--lime-segments", "superpixels"), ("--lime-samples", "samples")):
        capsys.readouterr()
        assert main(["predict", str(chest_cr), option, "1", "--out", str(tmp_path / "lime")]) == 2, option
        assert f"at least 2 {says}" in capsys.readouterr().err and not (tmp_path / "lime").exists()


@pytest.mark.parametrize("exact", [False, True])
def test_lime_samples_used_are_in_the_json_and_lime_exact_draws_them_all(tiny_weights, chest_cr: Path, tmp_path: Path,
                                                                          exact: bool) -> None:
    tiny_weights("dpn92_se")
    out = tmp_path / "out"
    args = ["predict", str(chest_cr), "--model", "dpn92_se", "--explain", "lime", "--lime-samples", "400",
            "--out", str(out), "--device", "cpu", "--quiet"] + (["--lime-exact"] if exact else [])
    assert main(args) == 0
    (dpn,) = _read(out, "RG1_UNCI")["models"]
    used = dpn["lime_samples"]
    assert used["most"] == 400 and (used["used"] == 400 if exact else used["used"] <= 400)


def test_films_of_a_folder_that_are_each_series_1_of_their_study_are_named_by_their_files(tiny_weights, chest_cr: Path,
                                                                                       tmp_path: Path) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    tiny_weights("dpn92_se")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("patient_a.dcm", "patient_b.dcm"):  # as a PACS exports films: each series 1 of its own study
        ds = pydicom.dcmread(chest_cr)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 1
        ds.save_as(folder / name)
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", "dpn92_se", "--out", str(out), "--device", "cpu", "--quiet",
                 "--no-date-check"]) == 0
    rows = list(csv.DictReader(open(out / "answers.csv", encoding="utf-8")))
    assert sorted(row["input"] for row in rows) == [str(folder / "patient_a.dcm"), str(folder / "patient_b.dcm")]
    assert sorted(row["result_file"] for row in rows) == ["patient_a.json", "patient_b.json"]
    assert _read(out, "patient_a")["input"] == str(folder / "patient_a.dcm")


def test_series_of_several_files_are_named_by_folder_and_number_and_by_uid_where_numbers_clash() -> None:
    from covidviewer.commands.predict import _series_names
    from covidviewer.io.study import SeriesInfo

    folder = Path("/study")
    two = [folder / "1.dcm", folder / "2.dcm"]
    found = [
        SeriesInfo("1.2.3.100000001", "dicom", two, number=1),
        SeriesInfo("1.2.3.100000002", "dicom", two, number=1),
        SeriesInfo("1.2.3.100000003", "dicom", two, number=3),
        SeriesInfo("1.2.3.100000003", "dicom", two, number=3, stack=1),  # a series split by image size
        SeriesInfo("1.2.3.100000004", "dicom", two),
        SeriesInfo(str(folder / "film.png"), "image", [folder / "film.png"]),
    ]
    names = _series_names(found, folder)
    assert [names[s.key] for s in found] == [
        "/study#1-00000001", "/study#1-00000002", "/study#3", "/study#3#part2", "/study#00000004", "/study/film.png"]
