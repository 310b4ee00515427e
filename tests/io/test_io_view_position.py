"""A radiograph's view from its header: ViewPosition as written, else the View Code Sequence a DX image must carry
(CID 4010 codes, or their meanings), else the series' own wording; the study's wording never (it names every film of
a two-view study). The view checks and the lateral-film refusal read it (session 34)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from covidviewer.io import load_path, scan_folder
from covidviewer.io.dicom_header import header_view
from covidviewer.io.view_position import AP, LATERAL, PA, view_from_code, view_from_words


def _code(value: str, meaning: str, scheme: str = "SCT") -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


@pytest.mark.parametrize(("value", "meaning", "view"), [
    ("399348003", "antero-posterior", AP), ("R-10206", "", AP),  # SNOMED CT, and SNOMED RT in older files
    ("399066004", "postero-anterior", PA), ("R-10214", "", PA),
    ("399173006", "left lateral", LATERAL), ("R-10232", "right lateral", LATERAL), ("399067008", "lateral", LATERAL),
    ("12345", "Antero-Posterior", AP), ("", "posteroanterior", PA),  # a local code: its meaning tells
    ("399312000", "antero-posterior oblique", ""), ("", "lateral oblique", ""),  # obliques are neither
    ("", "", ""),
])
def test_a_view_code_names_its_view(value: str, meaning: str, view: str) -> None:
    assert view_from_code(value, meaning) == view


@pytest.mark.parametrize(("text", "view"), [
    ("CHEST PA", PA), ("Chest AP portable", AP), ("THORAX_LAT", LATERAL), ("AP SUPINE", AP),
    ("PA AND LAT", ""), ("AP/PA", ""),  # two views named: a study's wording, not one image's
    ("CAPACITY", ""), ("series 1", ""), ("", ""),  # words that merely contain the letters name nothing
])
def test_a_series_wording_names_one_view_or_none(text: str, view: str) -> None:
    assert view_from_words(text) == view


def test_the_header_is_read_in_order_written_position_codes_then_series_words() -> None:
    ds = Dataset()
    ds.StudyDescription = "CHEST PA"  # the study's wording: never read
    assert header_view(ds) == ""
    ds.SeriesDescription = "CHEST AP PORTABLE"
    assert header_view(ds) == AP
    ds.ViewCodeSequence = Sequence([_code("399066004", "postero-anterior")])
    assert header_view(ds) == PA
    ds.ViewPosition = "LL"  # as written, as the study panel and the gate have always read it
    assert header_view(ds) == "LL"
    empty = Dataset()
    empty.ViewPosition, empty.AcquisitionDeviceProcessingDescription = "", "CHEST PA"
    assert header_view(empty) == PA  # a CR reader's processing description


def test_a_dx_film_coded_only_in_its_view_code_sequence_is_read_so_and_a_lateral_one_refused(tmp_path: Path, write_dicom) -> None:  # type: ignore[no-untyped-def]
    from covidviewer.inference.gate import check_input
    from covidviewer.models import get_spec

    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    for name, code in (("ap", _code("399348003", "antero-posterior")), ("lat", _code("R-10236", "left lateral", "SRT"))):
        (tmp_path / name).mkdir()
        write_dicom(tmp_path / name / f"{name}.dcm", pixels, study="1.2", series=f"1.2.{len(name)}", position=None,
                    orientation=None, modality="DX", signed=False, rescale=None, window=None,
                    extra={"ViewCodeSequence": Sequence([code]), "BodyPartExamined": "CHEST"})
    front = load_path(tmp_path / "ap" / "ap.dcm")
    assert front.meta["view_position"] == AP and scan_folder(tmp_path / "ap").series[0].view_position == AP
    lateral = load_path(tmp_path / "lat" / "lat.dcm")
    assert lateral.meta["view_position"] == LATERAL
    decision = check_input(lateral, get_spec("dpn92_se"))
    assert decision.reason.startswith("not analysed: lateral view")
