"""``trainer detail-range``: the finest-detail strength of a model's adult training films, on the view the app
measures a film with, kept per csv label on the card."""
from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from covidviewer.imaging.preprocess import Preprocess
from covidviewer.inference.inputs import plane_detail
from trainer.detail_range import detail_lines, detail_record, detail_values

VIEW = Preprocess(kind="cxr", size=(128, 128), fit="stretch", intensity="percentile", clahe=True)


def _film(seed: int, blur: float = 0.0) -> np.ndarray:
    """A 128 px textured 8-bit film; ``blur`` (sigma, px) takes its finest detail away."""
    film = cv2.GaussianBlur(np.random.default_rng(seed).uniform(0, 255, (128, 128)).astype(np.float32), (0, 0), 1.0)
    return cv2.GaussianBlur(film, (0, 0), blur) if blur else film


def _bundle(rows: list, films: dict) -> SimpleNamespace:  # type: ignore[type-arg]
    cache = SimpleNamespace(get=lambda path: (films[path], (127.5, 255.0)))
    return SimpleNamespace(split=SimpleNamespace(rows=lambda name: rows if name == "train" else []), cache=cache, lung_masks={})


def _row(path: str, csv_label: str, age_group: str = "adult", label: str = "") -> SimpleNamespace:
    return SimpleNamespace(path=path, csv_label=csv_label, label=label or csv_label, age_group=age_group)


def test_every_adult_film_is_measured_on_the_view_by_its_csv_label_and_children_are_left_out() -> None:
    films = {"a": _film(0), "b": _film(1, blur=2.0), "c": _film(2), "kid": _film(3)}
    rows = [_row("a", "normal", label="non-COVID"), _row("b", "normal", label="non-COVID"), _row("c", "covid"),
            _row("kid", "normal", age_group="child")]
    values = detail_values(_bundle(rows, films), "train", VIEW)
    assert sorted(values) == ["covid", "normal"] and len(values["normal"]) == 2  # by the csv's label, no child
    assert values["normal"][0] == plane_detail(films["a"], VIEW, (127.5, 255.0))  # the app's own measure
    assert values["normal"][1] < values["normal"][0] / 2  # a smoothed film: weaker finest detail


def test_the_record_keeps_each_labels_count_and_percentiles() -> None:
    values = {"normal": list(np.linspace(0.01, 0.05, 401)), "covid": [0.03] * 5, "viral": []}
    record = detail_record(values, "train")
    assert record["split"] == "train" and record["films"] == "adult" and "finest Laplacian band" in record["measure"]
    assert list(record["labels"]) == ["covid", "normal"]  # a label without films is left out
    normal = record["labels"]["normal"]
    assert normal["n"] == 401 and normal["p50"] == pytest.approx(0.03) and normal["p2.5"] == pytest.approx(0.011)
    assert normal["p97.5"] == pytest.approx(0.049)
    assert "normal (401 films): 0.0110 / 0.0300 / 0.0490" in "\n".join(detail_lines(record))


def test_the_record_goes_on_the_card_beside_the_rest_and_help_about_shows_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from covidviewer.model_cards import card_from_sidecar
    from trainer.detail_range import record_on_card

    (tmp_path / "model.json").write_text(json.dumps({"shards": {}, "metrics": {"audit": {}}}))
    record_on_card(tmp_path, detail_record({"normal": [0.015, 0.02, 0.036], "covid": [0.018, 0.03, 0.061]}, "train"))
    sidecar = json.loads((tmp_path / "model.json").read_text())
    assert sidecar["metrics"]["audit"] == {} and sidecar["metrics"]["detail_range"]["labels"]["normal"]["n"] == 3
    line = card_from_sidecar("x", sidecar).style_stress
    assert line.startswith("finest detail of its adult training films: covid 0.0186-0.0595, normal 0.0152-0.0352")
    assert card_from_sidecar("x", {"shards": {}}).style_stress == ""  # not recorded: no line


def test_write_needs_an_exported_card(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from trainer.detail_range import main

    assert main(["small_cnn", "--weights", str(tmp_path), "--data", str(tmp_path / "labels.csv"), "--write"]) == 2
    assert "needs an exported weights folder" in capsys.readouterr().out
