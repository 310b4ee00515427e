"""The cascade's COVID-19 sensitivity by view: recorded on its operating point for the two stages and the threshold
it was measured at, and given in Help > About as every other radiograph model's is (session 34)."""
from __future__ import annotations

import json

import pytest
from covidviewer.models.cascade import PARTS


def _view(films: int, sensitivity: float) -> dict:
    return {"counts": {"COVID-19": {"images": films}}, "point": {"covid_sensitivity_at_threshold": sensitivity}}


def test_recorded_for_its_stages_at_their_threshold_and_read_on_stage_2s_card(tiny_weights) -> None:  # type: ignore[no-untyped-def]
    from covidviewer.model_cards import CASCADE_POINT_KEY, SIDECAR, card_from_sidecar, weights_root
    from covidviewer.models import get_spec
    from trainer.audit_cascade import part_weights, record_cascade_by_view, write_operating_point

    for part in PARTS.values():
        tiny_weights(part)
    hashes = part_weights()
    by_view = {"AP": _view(22, 20 / 22), "PA": _view(22, 14 / 22)}
    report = {"stage_weights": hashes, "soft": {"adult": {"threshold": 0.17}, "by_view": by_view}}
    with pytest.raises(ValueError, match="no operating point for these parts"):
        record_cascade_by_view(report)  # no threshold recorded yet
    point = {"class_name": "COVID-19", "threshold": 0.17, "target_sensitivity": 0.8, "min_specificity": 0.5,
             "sensitivity": 0.8, "specificity": 0.9}
    write_operating_point({"operating_point": point, "stage_weights": hashes, "split": "test"})
    with pytest.raises(ValueError, match="at this threshold"):
        record_cascade_by_view({**report, "soft": {"adult": {"threshold": 0.30}, "by_view": by_view}})
    with pytest.raises(ValueError, match="give --views"):
        record_cascade_by_view({**report, "soft": {"adult": {"threshold": 0.17}, "by_view": {}}})
    with pytest.raises(ValueError, match="no operating point for these parts"):
        record_cascade_by_view({**report, "stage_weights": {**hashes, "stage1": "0" * 64}})

    card_path = record_cascade_by_view(report)
    assert card_path == weights_root() / get_spec("seme_densenet169").weights / SIDECAR
    card = json.loads(card_path.read_text())
    assert card[CASCADE_POINT_KEY]["threshold"] == 0.17  # the rest of the point is kept
    line = card_from_sidecar("seme_densenet169", card).audit
    assert ("Cascade-SEMEnet (its threshold is on this card): COVID-19 sensitivity by view (operating threshold): "
            "AP 0.91 of 22 films, PA 0.64 of 22") in line
    del card[CASCADE_POINT_KEY]["by_view"]
    assert "Cascade-SEMEnet" not in card_from_sidecar("seme_densenet169", card).audit


@pytest.mark.parametrize(("extra", "says"), [
    ([], "--views"),  # no view table: nothing per view to record
    (["--views", "views.csv", "--split", "train"], "--split train"),  # the validation audit's figures only
])
def test_audit_cascade_refuses_a_record_it_could_not_make_before_auditing(capsys, extra: list, says: str) -> None:  # type: ignore[no-untyped-def]
    from trainer.__main__ import main

    assert main(["audit-cascade", "--data", "labels.csv", "--record-by-view", *extra]) == 2
    assert says in capsys.readouterr().err
