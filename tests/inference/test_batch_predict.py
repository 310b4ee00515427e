"""Batch predict (issue 18.3): forwards in batches give the results one input at a time gets
(probabilities, label, decision, OOD score, warnings, cascade stages), with a refused and an
unreadable input in the middle; a failing batch falls back to one input at a time; ``--jobs`` keeps
the order of the inputs."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from covidviewer.__main__ import main
from covidviewer.inference import Predictor, RunOptions
from covidviewer.inference import batch as batch_module
from covidviewer.io import load_path, sample_paths

CXR_MODELS = ("dpn92_se", "seme_resnet50", "seme_densenet169", "lung_unet")


def _film(path: Path, seed: int) -> Path:
    """A generated chest-film-like PNG: a bright body, two dark lung fields, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:320, 0:288]
    image = 200 - 40 * (((yy - 170) / 150.0) ** 2 + ((xx - 144) / 140.0) ** 2)
    for cx in (90, 198):
        image[(((yy - 160) / 95.0) ** 2 + ((xx - cx) / 45.0) ** 2) < 1] -= 110 + 10 * seed
    image += rng.normal(0, 8, image.shape)
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return path


def _calibrate_dpn(folder: Path) -> None:
    """Give the tiny dpn92_se's card a temperature, an operating point and an OOD model, so the
    comparison covers calibrated probabilities, the decision and the OOD score."""
    from covidviewer.models import create_model
    from covidviewer.models.calibration import Calibration, OODModel, OperatingPoint
    from covidviewer.models.features import logits_and_features

    card = json.loads((folder / "model.json").read_text())
    dim = logits_and_features(create_model("dpn92_se").eval(), torch.zeros(1, 3, 64, 64))[1].shape[1]
    ood = OODModel(np.zeros(dim), np.eye(dim)[:, :2], ("normal",), np.array([[1.0, 0.0]]), np.eye(2), threshold=10.0)
    classes = tuple(card["spec"]["classes"])
    op = OperatingPoint("COVID-19", 0.3, 0.8, 0.7, 0.85, 0.72)
    card["calibration"] = Calibration(classes, 2.0, operating_point=op, ood=ood).write_card(folder)
    (folder / "model.json").write_text(json.dumps(card))


@pytest.fixture
def inputs(tiny_weights, tmp_path: Path) -> list[Path]:
    """Two films, an unreadable file and a CT (refused by every CXR model) in the middle, the real
    RG1_UNCI chest CR, a third film."""
    for name in CXR_MODELS:
        folder = tiny_weights(name)
        if name == "dpn92_se":
            _calibrate_dpn(folder)
    folder = tmp_path / "in"
    folder.mkdir()
    broken = folder / "broken.dcm"
    broken.write_bytes(b"DICM but not really" * 10)
    return [_film(folder / "a.png", 0), _film(folder / "b.png", 1), broken, sample_paths()["ct"],
            sample_paths()["chest_cr"], _film(folder / "c.png", 2)]


def _docs(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


def _same_model(a: dict, b: dict) -> None:
    assert (a["model"], a["status"], a["reason"]) == (b["model"], b["status"], b["reason"])
    assert a.get("label") == b.get("label") and a.get("decision") == b.get("decision")
    assert a.get("calibrated") == b.get("calibrated") and a.get("ood_flag") == b.get("ood_flag")
    assert a["warnings"] == b["warnings"]
    assert set(a["timings"]) == set(b["timings"])
    if a["status"] == "ok":
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=2e-5)
        assert (a["ood_score"] is None) == (b["ood_score"] is None)
        if a["ood_score"] is not None:
            assert a["ood_score"] == pytest.approx(b["ood_score"], rel=1e-3, abs=1e-3)
    assert len(a.get("stages", [])) == len(b.get("stages", []))
    for sa, sb in zip(a.get("stages", []), b.get("stages", [])):
        _same_model(sa, sb)


def _same_docs(one: dict[str, dict], batched: dict[str, dict]) -> None:
    assert list(one) == list(batched)
    for name in one:
        a, b = one[name], batched[name]
        for key in ("input", "status", "reason", "image_sha256", "shape", "image_kind", "view", "not_applicable", "warnings"):
            assert a[key] == b[key], (name, key)
        assert [m["model"] for m in a["models"]] == [m["model"] for m in b["models"]]
        for ma, mb in zip(a["models"] + a["unavailable"], b["models"] + b["unavailable"]):
            _same_model(ma, mb)


def test_batched_predict_gives_the_per_image_results(inputs: list[Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    forwards: list[tuple[str, int]] = []
    real_forward = batch_module._forward

    def counted(chunk, bf16):  # type: ignore[no-untyped-def]
        forwards.append((chunk[0].spec.name, len(chunk)))
        real_forward(chunk, bf16)

    monkeypatch.setattr(batch_module, "_forward", counted)
    args = ["--model", "all", "--device", "cpu"]
    assert main(["predict", *map(str, inputs), "--out", str(tmp_path / "one"), "--batch-size", "1", *args]) == 1
    one_lines = capsys.readouterr().out.splitlines()
    assert forwards == []
    assert main(["predict", *map(str, inputs), "--out", str(tmp_path / "batched"), "--batch-size", "4", "--jobs", "2", *args]) == 1
    batched_lines = capsys.readouterr().out.splitlines()
    # 4 + 2 inputs: the first four hold two films (the unreadable file and the CT have no forward)
    assert forwards == [("dpn92_se", 2), ("seme_resnet50", 2), ("seme_densenet169", 2)] * 2
    one, batched = _docs(tmp_path / "one"), _docs(tmp_path / "batched")
    assert [d["status"] for d in one.values()] and batched["broken.json"]["status"] == "error"
    assert batched["CT_small.json"]["status"] == "refused"
    assert {m["model"] for m in batched["RG1_UNCI.json"]["models"]} == {"dpn92_se", "cascade_semenet"}
    assert batched["RG1_UNCI.json"]["models"][0]["calibrated"] is True
    assert batched["RG1_UNCI.json"]["models"][0]["ood_score"] is not None
    _same_docs(one, batched)
    assert [line.split(":")[0] for line in one_lines] == [line.split(":")[0] for line in batched_lines]


def _prefetched_beside_per_image(paths: list[Path]):  # type: ignore[no-untyped-def]
    """(volumes, each one's per-image analysis, a second Predictor sharing the models, what its prefetch cached)."""
    volumes = [load_path(p) for p in paths]
    alone = Predictor(device="cpu")
    expected = [alone.analyse(v, "all", RunOptions(), source="x") for v in volumes]
    predictor = Predictor(device="cpu", store=alone.store)
    return volumes, expected, predictor, batch_module.prefetch(predictor, volumes, "all", RunOptions(), batch_size=2)


def test_prefetched_results_read_as_computed_per_image(inputs: list[Path]) -> None:
    """The cache is how batch results reach the one per-image path; they are not marked as hits,
    and the lung mask is on the result as it would be."""
    volumes, expected, predictor, prefetched = _prefetched_beside_per_image([inputs[0], inputs[1], inputs[5]])
    assert len(prefetched.computed) == 6 and not prefetched.failed_batches
    for volume, want in zip(volumes, expected):
        got = predictor.analyse(volume, "all", RunOptions(), source="x")
        prefetched.complete(got)
        assert not any(r.from_cache for r in got.models)
        np.testing.assert_allclose(got.lung_mask, want.lung_mask)
        _same_docs({"x": want.to_json()}, {"x": got.to_json()})
    assert predictor.cache.hits == 6


def test_a_failing_batch_runs_one_input_at_a_time(inputs: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    volumes = [load_path(p) for p in (inputs[0], inputs[1])]
    expected = [Predictor(device="cpu").analyse(v, "all", RunOptions()).to_json() for v in volumes]

    def out_of_memory(chunk, bf16):  # type: ignore[no-untyped-def]
        if chunk[0].spec.name == "seme_densenet169":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real(chunk, bf16)

    real = batch_module._forward
    monkeypatch.setattr(batch_module, "_forward", out_of_memory)
    predictor = Predictor(device="cpu")
    prefetched = batch_module.prefetch(predictor, volumes, "all", RunOptions(), batch_size=2)
    assert {m for _, m in prefetched.computed} == {"dpn92_se"}  # the cascade waits for its second stage
    assert "OutOfMemoryError" in prefetched.failed_batches[0]
    for volume, want in zip(volumes, expected):
        got = predictor.analyse(volume, "all", RunOptions())
        prefetched.complete(got)
        _same_docs({"x": want}, {"x": got.to_json()})


def test_explained_runs_are_not_batched() -> None:
    assert batch_module.batchable(RunOptions())
    assert not batch_module.batchable(RunOptions(method="gradcam"))


def test_jobs_keep_the_order_of_the_inputs(inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding threads finish in any order; the inputs come out in the order given."""
    import time

    from covidviewer.commands import predict

    folder = tmp_path / "films"
    folder.mkdir()
    films = [_film(folder / f"f{i}.png", i) for i in range(6)]
    real_load = load_path

    def slow_first(path):  # type: ignore[no-untyped-def]
        time.sleep(0.3 if path.name in ("f0.png", "a.png") else 0.0)
        return real_load(path)

    monkeypatch.setattr("covidviewer.io.load_path", slow_first)
    paths = [inputs[0], inputs[2], folder, *films[:2]]
    serial = [(name, isinstance(v, Exception)) for name, v in predict._inputs(paths, tmp_path / "out")]
    threaded = [(name, isinstance(v, Exception)) for name, v in predict._inputs(paths, tmp_path / "out", jobs=3)]
    assert serial == threaded and len(serial) == 10
    assert [failed for _, failed in serial] == [False, True] + [False] * 8


def test_batches_stop_at_the_size_or_at_the_memory_bound() -> None:
    from covidviewer.commands.predict import _batches
    from covidviewer.io import LoadError, Volume

    film = Volume(np.zeros((1, 100, 100), np.float32), modality="DX", default_window=(0.5, 1.0))  # 40 kB
    inputs = [("a", film), ("b", LoadError("unreadable")), ("c", film), ("d", film), ("e", film)]
    assert [[n for n, _ in c] for c in _batches(iter(inputs), 2)] == [["a", "b"], ["c", "d"], ["e"]]
    assert [[n for n, _ in c] for c in _batches(iter(inputs), 16, max_bytes=80_000)] == [["a", "b", "c"], ["d", "e"]]


def test_a_film_read_mirrored_back_is_batched_as_it_is_read_per_image(inputs: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from covidviewer.inference.film_mirror import FilmSide
    from covidviewer.inference.gate_verdicts import GateVerdicts

    monkeypatch.setattr(GateVerdicts, "film_side", lambda self, volume, digest: FilmSide(0.99))
    volumes, expected, predictor, prefetched = _prefetched_beside_per_image([inputs[0], inputs[1]])
    assert len(prefetched.computed) == 4 and not prefetched.failed_batches
    for volume, want in zip(volumes, expected):
        got = predictor.analyse(volume, "all", RunOptions(), source="x")
        prefetched.complete(got)
        assert not any(r.from_cache for r in got.models)  # the batch's results, read mirrored back
        answered = [r for r in got.models if r.ok]
        assert [r.model for r in answered] == ["dpn92_se", "cascade_semenet"]
        for a, b in zip(got.models, want.models):
            assert a.probabilities == pytest.approx(b.probabilities, abs=2e-5) and a.warnings == b.warnings
        assert all(any("mirrored back" in w for w in r.warnings) for r in answered)
    assert predictor.cache.hits == 4  # every answer came from the batch: none was computed again per image
