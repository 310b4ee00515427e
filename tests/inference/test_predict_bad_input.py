"""Regression tests for issue 15 in the headless commands: one test per defect found by fuzzing
(the number is the issue's), plus weights checks and Ctrl-C."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/bad_inputs.py

from bad_inputs import ct_series  # noqa: E402

from covidviewer.__main__ import EXIT_CANCELLED, main  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")


def _ct(folder: Path, name: str = "ct.dcm") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(get_testdata_file("CT_small.dcm"), folder / name))


def _docs(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def _predict(*args: object) -> int:
    return main(["predict", *map(str, args), "--device", "cpu", "--quiet"])


@pytest.fixture(autouse=True)
def no_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No installed models: predict reads, gates and writes JSON without running a network."""
    monkeypatch.setenv("COVIDVIEWER_WEIGHTS_DIR", str(tmp_path / "no-weights"))


@pytest.mark.parametrize("content", [os.urandom(3000), b"a,b,c\n1,2,3\n", b""], ids=["random", "csv", "zero-bytes"])
def test_1_a_non_dicom_dcm_file_is_its_own_error_and_the_batch_goes_on(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "in" / "bad.dcm"
    bad.parent.mkdir()
    bad.write_bytes(content)
    good = _ct(tmp_path / "later")
    out = tmp_path / "out"
    assert _predict(bad, good, "--out", out) == 1
    docs = _docs(out)
    assert docs["bad"]["status"] == "error" and ("not a DICOM" in docs["bad"]["reason"] or "empty file" in docs["bad"]["reason"])
    assert docs["ct"]["status"] == "refused"  # read and gated: the later file got its JSON


def test_2_a_symlink_loop_beside_a_film(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    _ct(folder, "film.dcm")
    os.symlink("b.dcm", folder / "a.dcm")
    os.symlink("a.dcm", folder / "b.dcm")
    out = tmp_path / "out"
    assert _predict(folder, "--out", out) == 1
    docs = _docs(out)
    assert docs["a"]["status"] == docs["b"]["status"] == "error" and "symbolic link loop" in docs["a"]["reason"]
    assert [d for d in docs.values() if d["status"] != "error"]  # the film is there
    assert main(["inspect", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["studies"]) == 1 and {Path(u["path"]).name for u in report["unreadable"]} == {"a.dcm", "b.dcm"}
    assert main(["inspect", str(folder / "a.dcm")]) == 2
    assert "symbolic link loop" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["existing file", "under a file", "read-only mount"])
def test_3_a_bad_out_is_refused_before_any_model_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    (tmp_path / "file").write_text("x")
    if where == "read-only mount":
        if not Path("/proc/self").is_dir():
            pytest.skip("needs /proc (a folder nobody, not even root, can write into)")
        out = Path("/proc/self")
    else:
        out = tmp_path / "file" if where == "existing file" else tmp_path / "file" / "out"
    assert _predict(_ct(tmp_path / "in"), "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("covidviewer predict: --out") and "Traceback" not in err


def test_7_loader_warnings_reach_the_json(tmp_path: Path) -> None:
    folder = ct_series(tmp_path / "ct", [0, 5, 10, 20, 25])
    out = tmp_path / "out"
    assert _predict(folder, "--out", out) == 0
    (doc,) = _docs(out).values()
    assert any("missing slices" in w for w in doc["warnings"])


def test_8_non_utf8_names_print_on_a_strict_utf8_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    _ct(folder, os.fsdecode(b"caf\xe9.dcm"))  # Latin-1 bytes: not UTF-8, a surrogate in Python
    broken = folder / os.fsdecode(b"na\xefve.dcm")
    broken.write_bytes(b"not DICOM")  # its name lands in the messages
    for argv, code in ((["inspect", str(folder)], 0), (["predict", str(broken), "--out", str(tmp_path / "out"), "--device", "cpu"], 1)):
        stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
        monkeypatch.setattr(sys, "stdout", stdout)
        assert main(argv) == code
        stdout.flush()
        assert "na?ve.dcm" in stdout.buffer.getvalue().decode("utf-8")


@pytest.mark.parametrize("make", ["empty", "not images"])
def test_10_a_folder_without_images_says_so_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    if make == "not images":
        (folder / "notes.txt").write_text("n")
        (folder / "data.csv").write_text("a\n")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--out", str(out), "--device", "cpu"]) == 1
    (doc,) = _docs(out).values()
    assert doc["status"] == "error" and doc["reason"].startswith(f"no image found in {folder}")
    if make == "not images":
        assert "2 file(s) skipped: data.csv (not an image file), notes.txt" in doc["reason"]
    assert "no image found" in capsys.readouterr().out


def test_12_out_equal_to_the_input_folder_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _ct(folder, "scan.dcm")
    (folder / "scan.json").write_text('{"mine": true}')
    assert _predict(folder / "scan.dcm", "--out", folder) == 0
    assert json.loads((folder / "scan.json").read_text()) == {"mine": True}
    assert json.loads((folder / "scan_2.json").read_text())["input"] == str(folder / "scan.dcm")
    assert _predict(folder / "scan.dcm", "--out", folder) == 0  # a second run keeps the first run's result too
    # each run its own table of answers, the first run's kept too
    assert sorted(p.name for p in folder.iterdir()) == ["answers.csv", "answers_2.csv", "scan.dcm", "scan.json",
                                                        "scan_2.json", "scan_3.json"]


def test_a_corrupted_shard_is_invalid_in_models_and_fails_predict(tiny_weights, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from covidviewer.io import sample_paths

    folder = tiny_weights("dpn92_se")
    shard = next(folder.glob("model-*.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes: only the hash can tell
    shard.write_bytes(bytes(data))
    assert main(["models", "--json"]) == 1
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dpn92_se"]["weights"].startswith("invalid") and "SHA-256 mismatch" in rows["dpn92_se"]["weights"]
    out = tmp_path / "out"
    assert _predict(sample_paths()["chest_cr"], "--model", "dpn92_se", "--out", out) == 1
    assert "dpn92_se: installed weights failed their check" in capsys.readouterr().err
    (doc,) = _docs(out).values()
    assert doc["unavailable"][0]["model"] == "dpn92_se" and "SHA-256" in doc["unavailable"][0]["reason"]


def test_a_pth_offered_as_weights_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from covidviewer.models import get_spec
    from covidviewer.models.weights import WeightsError, load_trained_model, read_sidecar, weights_status

    root = tmp_path / "weights"
    monkeypatch.setenv("COVIDVIEWER_WEIGHTS_DIR", str(root))
    folder = root / get_spec("dpn92_se").weights
    folder.mkdir(parents=True)
    (folder / "best.pth").write_bytes(b"\x80\x04 pickle")
    assert "pickle checkpoints are not loaded" in weights_status("dpn92_se")
    with pytest.raises(WeightsError, match=r"a weights file must not run code\); export with python -m trainer export"):
        load_trained_model("dpn92_se")
    with pytest.raises(WeightsError, match="pickle checkpoints are not loaded"):
        read_sidecar(folder / "best.pth")


def test_ctrl_c_is_one_line_and_leaves_no_partial_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Interrupted while the second input's files are written: exit 130, one line, the first
    input's result kept whole, nothing of the second left behind."""
    from covidviewer.inference import result_files

    real_write = result_files.write_result_files
    calls = []

    def write_then_interrupt(analysis, volume, out_dir, stem):
        calls.append(stem)
        written = real_write(analysis, volume, out_dir, stem)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(result_files, "write_result_files", write_then_interrupt)
    first, second = _ct(tmp_path / "a", "first.dcm"), _ct(tmp_path / "b", "second.dcm")
    out = tmp_path / "out"
    assert _predict(first, second, "--out", out) == EXIT_CANCELLED
    assert capsys.readouterr().err == "covidviewer predict: cancelled; no partial results written\n"
    assert sorted(p.name for p in out.iterdir()) == ["answers.csv", "first.json"]
    assert {row["input"] for row in csv.DictReader(open(out / "answers.csv", encoding="utf-8"))} == {str(first)}


def test_ctrl_c_from_the_terminal(tmp_path: Path) -> None:
    """A real SIGINT in the middle of a run: no traceback, exit 130."""
    inputs = [_ct(tmp_path / "in", f"ct{i:03d}.dcm") for i in range(300)]
    out = tmp_path / "out"
    env = dict(os.environ, COVIDVIEWER_WEIGHTS_DIR=str(tmp_path / "no-weights"))
    cmd = [sys.executable, "-m", "covidviewer", "predict", *map(str, inputs), "--out", str(out), "--device", "cpu", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not (out.is_dir() and any(out.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == EXIT_CANCELLED and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "covidviewer predict: cancelled; no partial results written"
    for doc in out.glob("*.json"):
        json.loads(doc.read_text())  # every file left is whole


def test_a_model_that_fails_on_an_input_makes_the_exit_code_1(tiny_weights, tmp_path: Path) -> None:
    from covidviewer.io import sample_paths

    tiny_weights("dpn92_se")
    out = tmp_path / "out"
    assert _predict(sample_paths()["chest_cr"], "--model", "dpn92_se,lung_unet", "--out", out) == 1
    (doc,) = _docs(out).values()
    assert doc["status"] == "ok"  # dpn92_se answered; the segmenter asked for as a classifier did not
    assert [m["status"] for m in doc["models"]] == ["ok", "error"]
