"""The ablation table reads each installed card and says which ablations are not trained."""
from __future__ import annotations

import json

from trainer.ablation_table import markdown, table_rows


def test_the_table_has_a_row_per_model_with_intervals_or_the_command_that_trains_it(tmp_path, monkeypatch) -> None:
    from covidviewer.model_cards import SIDECAR
    from covidviewer.models.weights import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    card = {
        "spec": {"preprocess": {"size": [128, 128]}},
        "training": {"training_minutes": 84.0, "device": "cuda"},
        "metrics": {"validation": {
            "point": {"accuracy": 0.7, "precision/COVID-19": 0.6, "recall/COVID-19": 0.8, "f1/COVID-19": 0.69, "macro_auc": 0.75},
            "ci95": {"accuracy": [0.6, 0.8], "macro_auc": [0.65, 0.85]},
        }, "lung_attention": {"mean_share": 0.23, "ci95": [0.18, 0.27], "mean_lung_area": 0.36}},
    }
    (tmp_path / "resunet").mkdir()
    (tmp_path / "resunet" / SIDECAR).write_text(json.dumps(card), encoding="utf-8")
    rows = table_rows(["dresunet", "resunet"])
    assert "not trained" in rows[0]["missing"] and rows[1]["accuracy"] == "0.700 [0.60, 0.80]"
    text = markdown(rows)
    assert "| `dresunet` | not trained" in text and "85.54%" in text
    assert "| `resunet` | 0.700 [0.60, 0.80] | 0.600 | 0.800 |" in text and "84 min on a GPU, 128x128 px" in text
    assert "| Grad-CAM in lungs (their area) |" in text and "| 0.230 [0.18, 0.27] (0.36) |" in text
