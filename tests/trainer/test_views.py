"""Each film's view (trainer/data/views.py) and the audit's figures per view (trainer/view_check.py): read from NIH's own
table or the csv, carried on the rows and counted by the audit and the leave-one-source-out check."""
from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from covidviewer.card_checks import held_out_lines
from audit_rows import FakeRow
from test_held_out_source import make_run
from trainer.audit import audit_summary, shortcut_audit
from trainer.data.labels import read_labels
from trainer.data.views import (ViewTableError, csv_views, film_key, normalised_view, read_view_table,
                                read_view_tables)
from trainer.held_out_source import held_out_check

CLASSES = ("COVID-19", "normal", "pneumonia")


@pytest.mark.parametrize("text, view", [
    ("PA", "PA"), ("AP", "AP"), ("AP Supine", "AP"), ("AP erect", "AP"), ("AP (pediatric)", "AP"), (" ap ", "AP"),
    ("L", "lateral"), ("LL", "lateral"), ("Lateral", "lateral"), ("frontal", ""), ("", ""), ("unknown", ""),
])
def test_views_are_read_from_the_words_packs_and_headers_use(text: str, view: str) -> None:
    assert normalised_view(text) == view


def _nih_table(path: Path, rows: list[tuple[str, str]]) -> Path:
    with gzip.open(path, "wt", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Image Index", "Finding Labels", "View Position"])
        writer.writerows((name, "No Finding", view) for name, view in rows)
    return path


def test_nihs_own_table_is_a_view_table_as_it_stands_and_matches_the_packs_jpegs(tmp_path: Path) -> None:
    table = read_view_table(_nih_table(tmp_path / "Data_Entry.csv.gz", [("00000061_012.png", "AP"), ("00000062_000.png", "PA")]))
    assert table == {"00000061_012": "AP", "00000062_000": "PA"}
    assert film_key("images/nih/00000061_012.jpg") == "00000061_012"
    plain = tmp_path / "views.csv"
    plain.write_text("path,view\na/x.png,AP Supine\na/y.png,PA\na/z.png,PA\n")
    # an earlier table wins where two name one film
    assert read_view_tables([plain, tmp_path / "Data_Entry.csv.gz"])["x"] == "AP"


def test_a_table_without_a_view_column_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.png,normal\n")
    with pytest.raises(ViewTableError, match="view column"):
        read_view_table(bad)
    with pytest.raises(ViewTableError, match="not found"):
        read_view_table(tmp_path / "missing.csv")


def test_rows_carry_the_tables_view_ahead_of_the_csvs_own(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label,patient_id,view\na.png,normal,p1,frontal\nb.png,covid,p2,AP Supine\nc.png,covid,p3,PA\n")
    rows = read_labels(labels, classes=("covid", "normal"), view_table={"a": "AP", "c": "AP"}).rows
    assert [r.view for r in rows] == ["AP", "AP", "AP"]
    assert [r.view for r in read_labels(labels, classes=("covid", "normal")).rows] == ["", "AP", "PA"]
    assert csv_views([labels]) == {"b": "AP", "c": "PA"}


def _with(row: FakeRow, **fields: str) -> object:
    """A FakeRow with extra attributes (the audit reads them with getattr)."""
    class Row:
        pass
    out = Row()
    out.__dict__.update(row.__dict__ | fields)
    return out


def _view_rows(ap_normal_p: float, pa_normal_p: float) -> tuple[np.ndarray, list]:
    """10 AP and 10 PA adult normals at the given p(COVID-19), 10 COVID-19 films of each view at 0.9, and 5 normals of
    no known view at 0.1."""
    spec = [("AP", "normal", ap_normal_p, 10), ("PA", "normal", pa_normal_p, 10), ("AP", "COVID-19", 0.9, 10),
            ("PA", "COVID-19", 0.9, 10), ("", "normal", 0.1, 5)]
    rows, prob = [], []
    for view, label, p, n in spec:
        for i in range(n):
            target = CLASSES.index(label)
            rows.append(_with(FakeRow(label, target, f"{view}{label}{i}", "NIH", (target,)), view=view))
            prob.append([p, (1 - p) * 0.8, (1 - p) * 0.2])
    return np.array(prob), rows


def test_the_audit_counts_each_view_and_flags_ap_normals_called_covid_more_often() -> None:
    prob, rows = _view_rows(ap_normal_p=0.7, pa_normal_p=0.1)
    audit = shortcut_audit(prob, None, CLASSES, rows, threshold=0.5, n_boot=20)
    by_view = audit["by_view"]
    assert by_view["AP"]["counts"]["normal"]["images"] == 10 and by_view["PA"]["counts"]["COVID-19"]["images"] == 10
    assert by_view["AP"]["point"]["normal_called_covid_at_threshold"] == 1.0
    assert by_view["PA"]["point"]["normal_called_covid_at_threshold"] == 0.0
    assert any(f.startswith("AP adult normal films are called COVID-19 100%") for f in audit["flags"])
    assert "  AP (normal 10, COVID-19 10): called COVID-19: normal 1.000" in audit_summary(audit)
    assert by_view["PA"]["covid_scores"] == [0.9] * 10  # the view's COVID-19 films' p(COVID-19), for the app's PA check


def test_no_flag_when_both_views_are_called_alike_and_a_line_when_no_view_is_known() -> None:
    prob, rows = _view_rows(ap_normal_p=0.1, pa_normal_p=0.1)
    assert not any("AP adult" in f for f in shortcut_audit(prob, None, CLASSES, rows, threshold=0.5, n_boot=20)["flags"])
    unknown = [_with(FakeRow(r.label, r.target, r.patient_id, r.source, r.targets), view="") for r in rows]
    audit = shortcut_audit(prob, None, CLASSES, unknown, threshold=0.5, n_boot=20)
    assert audit["by_view"] == {}
    assert "per view: no film of a known view" in audit_summary(audit)


def test_the_held_out_check_counts_the_held_out_films_per_view(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", [0.9] * 4 + [0.1] * 6, [0.9] * 2 + [0.1] * 2)  # threshold 0.3
    views = {"r0": "AP", "r1": "AP", "r2": "AP", "r3": "AP", "r4": "AP", "r5": "PA", "r6": "PA", "q0": "AP", "q2": "PA"}
    check = held_out_check(run, n_boot=20, views=views)
    ap, pa = check["by_view"]["AP"], check["by_view"]["PA"]
    assert ap["n"] == {"normal": 5, "pneumonia": 1} and pa["n"] == {"normal": 2, "pneumonia": 1}
    assert ap["point"]["normal_called_covid_at_threshold"] == pytest.approx(0.8)
    assert pa["point"]["normal_called_covid_at_threshold"] == 0.0
    assert pa["point"]["pneumonia_called_covid_at_threshold"] == 0.0
    assert held_out_lines(check)[0].endswith("; by view, 80% of its 5 AP films and 0% of its 2 PA films")
    assert "by_view" not in held_out_check(run, n_boot=20)


def test_the_per_view_figures_recorded_on_a_card_give_its_covid_sensitivity_by_view(tmp_path: Path) -> None:
    """``evaluate --record-by-view``: a card exported before views were read gets the audit's per-view figures, and
    Help > About then reads its COVID-19 sensitivity by view from them."""
    import argparse
    import json

    from covidviewer.model_cards import card_from_sidecar
    from trainer.evaluate_commands import _record_refusal
    from trainer.view_check import record_on_card

    prob, rows = _view_rows(ap_normal_p=0.1, pa_normal_p=0.1)
    prob[30:40, 0] = [0.9] * 6 + [0.2] * 4  # 6 of the 10 PA COVID-19 films found at the threshold 0.5
    audit = shortcut_audit(prob, None, CLASSES, rows, threshold=0.5, n_boot=20)
    adult = {"point": {"covid_sensitivity": 0.8}}
    card = {"spec": {"name": "small_cnn", "modality": "CR"}, "shards": {}, "metrics": {"audit": {"adult": adult}}}
    (tmp_path / "model.json").write_text(json.dumps(card))
    record_on_card(tmp_path, audit["by_view"])
    recorded = json.loads((tmp_path / "model.json").read_text())
    assert recorded["metrics"]["audit"]["adult"] == card["metrics"]["audit"]["adult"]  # the rest of the card is kept
    assert recorded["metrics"]["audit"]["flags"] == []  # AP and PA normals called alike
    line = card_from_sidecar("small_cnn", recorded).audit
    assert "COVID-19 sensitivity by view (operating threshold): AP 1.00 of 10 films, PA 0.60 of 10" in line

    def refusal(**given: object) -> str:
        values = {"record_by_view": True, "record_style_stress": False, "record_same_source": None, "calibrate": False,
                  "record_lung_attention": False, "split": "val", "views": [Path("views.csv")], "weights": str(tmp_path), **given}
        return _record_refusal(argparse.Namespace(**values))

    assert refusal() == ""
    assert "--views" in refusal(views=None) and "--split val" in refusal(split="train")
    assert "no card" in refusal(weights=str(tmp_path / "none"))
    lungs = {"record_by_view": False, "record_lung_attention": True, "model": "dpn92_se"}
    assert refusal(**lungs) == "" and "--split val" in refusal(**lungs, split="train")
    assert "not lung_unet's" in refusal(**{**lungs, "model": "lung_unet"})  # a segmenter has no class to explain
    assert "not cascade_semenet's" in refusal(**{**lungs, "model": "cascade_semenet"})
    assert "no card" in refusal(**lungs, weights=str(tmp_path / "none"))
