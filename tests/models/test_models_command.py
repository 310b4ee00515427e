"""``python -m covidviewer models``: every registered model, its size and its weights status."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from covidviewer.__main__ import main
from covidviewer.models import get_spec, list_models
from covidviewer.models.weights import WEIGHTS_ENV


def test_json_lists_every_model_as_untrained_in_an_empty_weights_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_models()
    for row in rows:
        spec = get_spec(row["name"])
        assert row["classes"] == list(spec.classes) and row["input_size"] == list(spec.preprocess.size)
        assert row["parameters"] > 0 and row["weights"] == "missing" and row["weights_sha256"] is None
    by_name = {r["name"]: r for r in rows}
    assert by_name["lung_unet"]["parameters"] < 8_000_000
    parts = by_name["cascade_semenet"]["parts"]
    assert by_name["cascade_semenet"]["parameters"] == sum(by_name[p]["parameters"] for p in parts.values())


def test_table_names_every_model_and_says_how_to_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in list_models():
        assert any(line.startswith(name + " ") for line in lines), name
    assert "python -m trainer fit" in out


def test_an_installed_set_is_counted_as_it_was_built(capsys: pytest.CaptureFixture[str]) -> None:
    """small_cnn ships as three starts side by side (its card's model_kwargs): three times one start's parameters."""
    from covidviewer.models import create_model
    from covidviewer.models.weights import installed_builder_kwargs, weights_status

    if weights_status("small_cnn", verify=False) != "trained" or installed_builder_kwargs("small_cnn").get("members", 1) == 1:
        pytest.skip("small_cnn is not installed as an ensemble")
    assert main(["models", "--json", "--quick"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "small_cnn")
    one_start = sum(p.numel() for p in create_model("small_cnn").parameters())
    members = installed_builder_kwargs("small_cnn")["members"]
    assert row["parameters"] == sum(p.numel() for p in create_model("small_cnn", members=members).parameters())
    assert row["parameters"] > 2.5 * one_start
