"""``data.kind_check``: the app's input gate asked of every training row (trainer.data.kind_check), on real DICOM
files that ship with pydicom and pydicom-data: a PA chest CR passes, a CT image is listed, and "skip" leaves it out."""
from __future__ import annotations

from pathlib import Path

import pytest

from covidviewer.io import sample_paths
from covidviewer.models import get_spec
from covidviewer.models.weights.installed import installed_weights_sha256
from trainer.data.build import _check_kinds
from trainer.data.images import ImageCache
from trainer.data.kind_check import gate_findings
from trainer.data.labels import LabelsReport, Row

pytestmark = pytest.mark.skipif(installed_weights_sha256("image_kind") is None, reason="the image-kind model is not installed")


def _report() -> LabelsReport:
    films = sample_paths()
    rows = [Row(path=Path(films["chest_cr"]), label="normal", target=0, patient_id="cr"),
            Row(path=Path(films["ct"]), label="normal", target=0, patient_id="ct")]
    return LabelsReport(csv_path=Path("labels.csv"), rows=rows)


def test_the_gate_lists_the_ct_image_among_chest_films_and_passes_the_chest_film() -> None:
    report = _report()
    found = gate_findings(report.rows, ImageCache(), get_spec("small_cnn"))
    assert [row.patient_id for row, _ in found] == ["ct"]
    assert "not a frontal chest radiograph" in found[0][1] or "does not look like a chest radiograph" in found[0][1]
    assert gate_findings(report.rows, ImageCache(), get_spec("darnet")) == []  # a 3D model's volumes are not asked


@pytest.mark.parametrize("mode, kept", [("warn", ["cr", "ct"]), ("skip", ["cr"]), ("off", ["cr", "ct"])])
def test_warn_keeps_skip_leaves_out_and_off_asks_nothing(mode: str, kept: list[str]) -> None:
    report = _report()
    _check_kinds(report, ImageCache(), get_spec("small_cnn"), mode)
    assert [row.patient_id for row in report.rows] == kept
    assert len(report.gate_refused) == (0 if mode == "off" else 1)
    if mode != "off":
        assert "WARNING: 1 film the app's input gate would refuse" in report.summary()
        assert report.to_dict()["gate_refused"][0]["path"].endswith("CT_small.dcm")


def test_an_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="kind_check"):
        _check_kinds(_report(), ImageCache(), get_spec("small_cnn"), "maybe")


def test_the_check_leaves_a_seeded_run_s_random_start_as_it_was() -> None:
    import torch

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    gate_findings(_report().rows, ImageCache(), get_spec("small_cnn"))
    assert torch.equal(torch.rand(3), expected)


CLAVICLE = Path(__file__).resolve().parents[2] / "data" / "npm_dicom" / "cr_clavicle_ap.dcm"


@pytest.mark.skipif(not CLAVICLE.is_file(), reason="no data/npm_dicom (scripts/fetch_npm_dicom.py fetches it)")
def test_a_film_the_image_kind_model_is_unsure_of_must_show_two_lungs_as_in_the_app() -> None:
    """A real clavicle film (npm ami.js' test data) scores 0.55 for a frontal chest film: the app refuses it because the
    lung segmenter finds no two lungs, so a training set must not keep it unremarked either."""
    rows = [Row(path=CLAVICLE, label="normal", target=0, patient_id="clavicle")]
    found = gate_findings(rows, ImageCache(), get_spec("small_cnn"))
    assert [row.patient_id for row, _ in found] == ["clavicle"]
    assert "the lung segmenter finds no two lungs side by side" in found[0][1]
