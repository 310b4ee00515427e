"""Help > About: version, notice and one card per installed weight set, read without torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from covidviewer import RESEARCH_NOTICE, __version__
from covidviewer.model_cards import card_from_sidecar, installed_cards, weight_set_sha256

SIDECAR = {
    "spec": {"name": "dpn92_se", "version": "2", "task": "classification", "classes": ["COVID-19", "normal"],
             "preprocess": {"size": [128, 128]}},
    "parameters": 39_700_000,
    "shards": {"model-00002-of-00002.safetensors": {"sha256": "bb"}, "model-00001-of-00002.safetensors": {"sha256": "aa"}},
    "training": {
        "data_csv": "../shared/data/cxr/labels.csv",
        "data": {"counts": {"train": {"covid": 300, "normal": 100, "_patients": 250},
                            "val": {"covid": 60, "normal": 20, "_patients": 45}},
                 "split_method": "patient-level stratified 85%/15% (seed 0)"},
        "deviations": ["input.size: recipe [] -> used 128"],
        "paper": {"reported": {"accuracy": 0.856}},
    },
    "metrics": {
        "validation": {"point": {"accuracy": 0.8125, "macro_auc": 0.9}, "ci95": {"accuracy": [0.7, 0.9], "macro_auc": [0.85, 0.95]}},
        "lung_attention": {"mean_share": 0.41, "ci95": [0.35, 0.47]},
    },
    "calibration": {
        "temperature": 1.8, "ece_before": 0.14, "ece_after": 0.04, "n_validation": 80,
        "operating_point": {"class_name": "COVID-19", "threshold": 0.31, "target_sensitivity": 0.8,
                            "sensitivity": 0.83, "specificity": 0.76},
        "ood": {"threshold": 12.3, "percentile": 99.0, "flag_rates": {"val/cohen": 0.01, "ct_slices": 0.97}},
    },
    "known_biases": ["every COVID X-ray is an adult, every other one a child"],
    "created": "2026-11-22T07:00:00+00:00",
}


def _install(root: Path) -> None:
    (root / "dpn92_se").mkdir(parents=True)
    (root / "dpn92_se" / "model.json").write_text(json.dumps(SIDECAR))
    (root / "broken").mkdir()
    (root / "broken" / "model.json").write_text("{not json")


def test_card_summarises_version_hash_data_metrics_and_biases() -> None:
    card = card_from_sidecar("dpn92_se", SIDECAR)
    assert card.version == "2"
    assert card.sha256 == weight_set_sha256(SIDECAR["shards"]) and len(card.sha256) == 64
    assert card.trained_on.startswith("cxr: train 400 images / 250 patients, val 80 images / 45 patients")
    assert card.validation == "accuracy 0.812 [0.700, 0.900]; macro auc 0.900 [0.850, 0.950]"
    assert card.lung_attention == "0.41 [0.35, 0.47] of the Grad-CAM attention inside the U-Net lung mask"
    ct_lungs = {"mean_share": 0.34, "ci95": [0.3, 0.38], "mean_lung_area": 0.36, "n_images": 109, "n_empty_maps": 0,
                "lung_region": "ct_enclosed", "n_no_lungs": 9, "outside_body_share": 0.15, "mean_outside_area": 0.16}
    ct_card = card_from_sidecar("dresunet", {**SIDECAR, "metrics": {**SIDECAR["metrics"], "lung_attention": ct_lungs}})
    assert ct_card.lung_attention == ("0.34 [0.30, 0.38] of the Grad-CAM attention inside the lungs (the dark regions "
                                      "the body encloses; they cover 0.36 of the region the maps cover); 0.15 outside "
                                      "the body (air, the table, labels), which is 0.16 of that region (9 slices with no lungs "
                                      "enclosed left out)")
    assert card.paper_reported == "accuracy 0.856"
    assert card.biases and card.deviations
    assert card.calibration.startswith("temperature 1.80; ECE 0.140 \u2192 0.040")
    assert "COVID-19 at p \u2265 0.31 for sensitivity 0.80" in card.calibration and "ct_slices 97%" in card.calibration
    assert card_from_sidecar("x", {**SIDECAR, "calibration": None}).calibration == ""


def test_about_dialog_lists_installed_models_and_skips_broken_ones(qtbot, tmp_path: Path, monkeypatch) -> None:
    from covidviewer.model_cards import WEIGHTS_ENV
    from covidviewer.ui.about import AboutDialog

    _install(tmp_path)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert [c.folder for c in installed_cards()] == ["dpn92_se"]
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    for expected in (__version__, RESEARCH_NOTICE, "dpn92_se", card_from_sidecar("dpn92_se", SIDECAR).sha256,
                     "cxr: train 400 images", "accuracy 0.812", "accuracy 0.856 (on its own data)", "every COVID X-ray is an adult", "Installed models (1)",
                     "DARNet"):
        assert expected in text, expected


def test_reading_the_cards_does_not_import_torch() -> None:
    code = "import sys, covidviewer.ui.about, covidviewer.model_cards as m; m.installed_cards(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_member_of_an_ablation_family_shows_the_family_table() -> None:
    """Issue 16: the ablation table is in each card (the same cells as `trainer ablation-table`)."""
    from covidviewer.ui.about import about_html

    def member(name: str, ablation_of: str, accuracy: float) -> dict:
        return {**SIDECAR, "spec": {**SIDECAR["spec"], "name": name, "ablation_of": ablation_of},
                "training": {**SIDECAR["training"], "training_minutes": 17.4},
                "metrics": {"validation": {"point": {"accuracy": accuracy, "macro_auc": 0.73},
                                           "ci95": {"accuracy": [0.55, 0.79]}}}}

    cards = [card_from_sidecar("dresunet", member("dresunet", "", 0.678)),
             card_from_sidecar("resunet", member("resunet", "dresunet", 0.653)),
             card_from_sidecar("dpn92_se", SIDECAR)]
    assert cards[1].ablation_row["accuracy"] == "0.653 [0.55, 0.79]" and cards[1].ablation_row["AUC"] == "0.730"
    assert cards[1].ablation_row["trained"] == "17 min, 128x128 px" and cards[1].ablation_row["precision"] == "-"
    assert cards[1].ablation_row["Grad-CAM in lungs (their area)"] == "-"  # not measured on this card
    assert cards[1].ablation_row["AUC chest erased (as sent)"] == "-"
    erased = {"mean_share": 0.23, "ci95": [0.18, 0.27], "mean_lung_area": 0.36, "lung_region": "ct_enclosed",
              "lungs_erased": {"point": {"auc_as_sent": 0.825, "auc_lungs_erased": 0.737},
                               "ci95": {"auc_as_sent": [0.72, 0.91], "auc_lungs_erased": [0.627, 0.841]}}}
    fprm = member("resunet_fprm", "dresunet", 0.729)
    fprm["metrics"]["lung_attention"] = erased
    measured = card_from_sidecar("resunet_fprm", fprm)
    assert measured.ablation_row["AUC chest erased (as sent)"] == "0.74 [0.63, 0.84] (0.82)"
    assert "with the chest erased, its COVID-19 score's AUC (COVID-19 against the other images) is 0.74 [0.63, 0.84]" in measured.lung_attention
    html = about_html(cards)
    assert html.count("Ablations of dresunet (validation, 95% CI)") == 2  # on both members, not on dpn92_se
    assert "0.678 [0.55, 0.79]" in html and "0.653 [0.55, 0.79]" in html


def test_a_ct_models_audit_line_speaks_of_slices_not_adult_pneumonia() -> None:
    """The audit's 'non-COVID pneumonia' is every non-COVID slice for a CT model: the card says so."""
    audit = {"adult": {"point": {"pneumonia_called_covid": 0.45, "covid_sensitivity": 0.8}}}
    ct = {**SIDECAR, "spec": {**SIDECAR["spec"], "modality": "CT_SLICE"}, "metrics": {"audit": audit}}
    cxr = {**SIDECAR, "spec": {**SIDECAR["spec"], "modality": "CR"}, "metrics": {"audit": audit}}
    assert card_from_sidecar("dresunet", ct).audit == "validation slices: non-COVID called COVID-19 45%; COVID-19 sensitivity 0.80"
    assert card_from_sidecar("dpn92_se", cxr).audit.startswith("adult validation films: non-COVID pneumonia called COVID-19 45%")


def test_the_audit_line_names_the_same_source_normals_called_covid() -> None:
    audit = {"adult": {"point": {"normal_called_covid_at_threshold": 0.05, "covid_sensitivity_at_threshold": 0.8}},
             "same_source": {"sources": {"ieee8023": {"normal": 3, "COVID-19": 40}, "Figure1": {"normal": 1, "COVID-19": 7}},
                             "point": {"normal_called_covid_at_threshold": 0.25, "normal_called_covid": 0.0}}}
    cxr = {**SIDECAR, "spec": {**SIDECAR["spec"], "modality": "CR"}, "metrics": {"audit": audit}}
    line = card_from_sidecar("dpn92_se", cxr).audit
    assert "normal called COVID-19 5% (operating threshold)" in line
    assert "normal called COVID-19 within the COVID-19 sources 25% of 4" in line
    assert "pneumonia called COVID-19 within" not in line  # a card audited before the pneumonia check
    audit["same_source_pneumonia"] = {"negative": "pneumonia", "sources": {"ieee8023": {"pneumonia": 11, "COVID-19": 40}},
                                      "point": {"pneumonia_called_covid_at_threshold": 6 / 11}}
    line = card_from_sidecar("dpn92_se", cxr).audit
    assert ("normal called COVID-19 within the COVID-19 sources 25% of 4; "
            "non-COVID pneumonia called COVID-19 within the COVID-19 sources 55% of 11") in line


def test_the_calibration_line_names_the_recorded_same_source_check() -> None:
    point = {"class_name": "COVID-19", "threshold": 0.15, "target_sensitivity": 0.8, "min_specificity": 0.7,
             "sensitivity": 0.8, "specificity": 0.95,
             "same_source": {"split": "train", "sources": {"ieee8023": {"normal": 11, "COVID-19": 300}, "Figure1": {"normal": 2, "COVID-19": 30}},
                             "point": {"normal_called_covid_at_threshold": 7 / 13, "auc_normal_vs_covid": 0.81}}}
    card = {**SIDECAR, "calibration": {"temperature": 1.2, "operating_point": point}}
    line = card_from_sidecar("dpn92_se", card).calibration
    assert ("same-source check (train films): 7 of 13 normal films from the COVID-19 collections called COVID-19 at this "
            "threshold, within-source AUC 0.81") in line
    point["same_source_pneumonia"] = {"negative": "pneumonia", "split": "val", "sources": {"ieee8023": {"pneumonia": 11, "COVID-19": 44}},
                                      "point": {"pneumonia_called_covid_at_threshold": 7 / 11, "auc_pneumonia_vs_covid": 0.62}}
    line = card_from_sidecar("dpn92_se", {**SIDECAR, "calibration": {"temperature": 1.2, "operating_point": point}}).calibration
    assert ("same-source check (val films): 7 of 11 non-COVID pneumonia films from the COVID-19 collections called "
            "COVID-19 at this threshold, within-source AUC 0.62") in line
    del point["same_source_pneumonia"]
    without = {**SIDECAR, "calibration": {"temperature": 1.2, "operating_point": {k: v for k, v in point.items() if k != "same_source"}}}
    assert "same-source" not in card_from_sidecar("dpn92_se", without).calibration
    by_patient = {"covid_patients": {"normal": 8, "called_covid": 6}, "other_patients": {"normal": 5, "called_covid": 1}}
    point["same_source"]["by_patient"] = by_patient
    line = card_from_sidecar("dpn92_se", {**SIDECAR, "calibration": {"temperature": 1.2, "operating_point": point}}).calibration
    assert ("called COVID-19 at this threshold (6 of 8 earlier or later films of COVID-19 patients, 1 of 5 films of "
            "other patients), within-source AUC 0.81") in line


def test_the_audit_line_gives_covid_sensitivity_by_view_where_both_views_have_ten_films() -> None:
    """The outpatient's PA film is found less often than the portable AP one: a pooled 0.80 hides it (session 32)."""
    def view(films: int, sensitivity: float) -> dict:
        return {"counts": {"COVID-19": {"images": films}}, "point": {"covid_sensitivity_at_threshold": sensitivity}}

    audit = {"adult": {"point": {"covid_sensitivity_at_threshold": 0.8}},
             "by_view": {"AP": view(22, 10 / 11), "PA": view(22, 15 / 22)}}
    cxr = {**SIDECAR, "spec": {**SIDECAR["spec"], "modality": "CR"}, "metrics": {"audit": audit}}
    line = card_from_sidecar("dpn92_se", cxr).audit
    assert "COVID-19 sensitivity by view (operating threshold): AP 0.91 of 22 films, PA 0.68 of 22" in line
    audit["by_view"]["AP"] = view(9, 1.0)  # one view too few films to stand beside the other
    assert "by view" not in card_from_sidecar("dpn92_se", cxr).audit
