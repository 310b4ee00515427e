"""The gate's content check with given image-kind verdicts (no torch): what decides, what is said,
and when a refusal is "not applicable" (another model reads that kind) rather than reported."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from covidviewer.inference.gate import (
    CONTRADICTION_SCORE,
    CT_SLICE_KIND,
    FRONTAL,
    LATERAL,
    OTHER_KIND,
    SURE_KIND_SCORE,
    ImageKind,
    check_input,
    needs_lung_pair,
    unsure_kind_warning,
)
from covidviewer.io import Volume, load_path, sample_paths
from covidviewer.models import get_spec


def _kind(kind: str, score: float) -> ImageKind:
    rest = (1.0 - score) / 3
    kinds = (FRONTAL, LATERAL, CT_SLICE_KIND, OTHER_KIND)
    return ImageKind(kind, score, {k: score if k == kind else rest for k in kinds})


def _png(size: int = 256) -> Volume:
    pixels = np.random.default_rng(0).integers(0, 255, (1, size, size)).astype(np.float32)
    return Volume(pixels, modality="", default_window=(127.5, 255.0), meta={"format": "image"})


@pytest.fixture(scope="module")
def chest_cr() -> Volume:
    return load_path(sample_paths()["chest_cr"])


@pytest.mark.parametrize(
    "model, kind, accepted, applicable, words",
    [
        ["dpn92_se", _kind(FRONTAL, 0.97), True, True, ""],
        ["dpn92_se", _kind(CT_SLICE_KIND, 0.97), False, False, "looks like an axial CT slice, not a frontal chest radiograph (image-kind model 0.97)"],
        ["dpn92_se", _kind(LATERAL, 0.80), False, True, "looks like a lateral chest radiograph"],
        ["dpn92_se", _kind(OTHER_KIND, 0.99), False, True, "does not look like a chest radiograph or a chest CT slice (image-kind model 0.99)"],
        ["dresunet", _kind(FRONTAL, 0.90), False, False, "looks like a frontal chest radiograph, not an axial CT slice"],
        ["dresunet", _kind(CT_SLICE_KIND, 0.70), True, True, ""],
        ["dresunet", _kind(OTHER_KIND, 0.95), False, True, "does not look like a chest radiograph or a chest CT slice (image-kind model 0.95)"],
    ],
)
def test_a_png_is_judged_by_its_pixels(model: str, kind: ImageKind, accepted: bool, applicable: bool, words: str) -> None:
    decision = check_input(_png(), get_spec(model), kind=kind)
    assert decision.accepted is accepted
    assert decision.applicable is applicable
    assert words in decision.reason
    if not accepted:
        assert decision.reason.startswith("not analysed: ")


def test_a_weak_majority_for_the_right_kind_is_not_enough() -> None:
    unsure = ImageKind(FRONTAL, 0.4, {FRONTAL: 0.4, LATERAL: 0.3, CT_SLICE_KIND: 0.1, OTHER_KIND: 0.2})
    decision = check_input(_png(), get_spec("dpn92_se"), kind=unsure)
    assert not decision.accepted and "not clearly a frontal chest radiograph" in decision.reason


def test_without_a_verdict_only_metadata_decides() -> None:
    assert check_input(_png(), get_spec("dpn92_se")).accepted
    assert check_input(_png(), get_spec("dresunet")).accepted


def test_dicom_tags_decide_unless_the_pixels_contradict_them(chest_cr: Volume) -> None:
    spec = get_spec("dpn92_se")
    assert chest_cr.meta["view_position"] == "PA"
    # tags CR + PA: an unsure or moderately different verdict does not overrule them
    assert check_input(chest_cr, spec, kind=_kind(LATERAL, CONTRADICTION_SCORE - 0.05)).accepted
    contradicted = check_input(chest_cr, spec, kind=_kind(CT_SLICE_KIND, 0.97))
    assert not contradicted.accepted
    assert "the DICOM tags (Modality CR, view PA, body part 'CHEST') say a frontal chest radiograph" in contradicted.reason
    assert "the pixels look like an axial CT slice (image-kind model 0.97)" in contradicted.reason


def test_dicom_without_a_view_position_is_judged_by_its_pixels(chest_cr: Volume) -> None:
    untagged = copy.copy(chest_cr)
    untagged.meta = {**chest_cr.meta, "view_position": ""}
    spec = get_spec("dpn92_se")
    assert check_input(untagged, spec, kind=_kind(FRONTAL, 0.9)).accepted
    decision = check_input(untagged, spec, kind=_kind(LATERAL, 0.7))
    assert not decision.accepted and "looks like a lateral chest radiograph" in decision.reason


def test_dicom_secondary_capture_is_judged_by_its_pixels_when_a_verdict_exists(chest_cr: Volume) -> None:
    capture = copy.copy(chest_cr)
    capture.modality = "OT"
    capture.meta = {**chest_cr.meta, "modality": "OT", "view_position": ""}
    spec = get_spec("dpn92_se")
    assert not check_input(capture, spec).accepted  # tags alone: not a radiograph modality
    assert check_input(capture, spec, kind=_kind(FRONTAL, 0.95)).accepted
    assert not check_input(capture, spec, kind=_kind(OTHER_KIND, 0.95)).accepted


def test_image_kind_json_is_rounded_and_names_the_slice() -> None:
    kind = ImageKind(CT_SLICE_KIND, 0.912345, {CT_SLICE_KIND: 0.912345, OTHER_KIND: 0.087655}, slice_index=7)
    assert kind.to_json() == {"kind": CT_SLICE_KIND, "score": 0.9123, "probabilities": {CT_SLICE_KIND: 0.9123, OTHER_KIND: 0.0877}, "slice_index": 7}


def _ct_with_body(share: float | None) -> ImageKind:
    kind = _kind(CT_SLICE_KIND, 1.0)
    return ImageKind(kind.kind, kind.score, kind.probabilities, body_share=share)


@pytest.mark.parametrize(
    "model, share, accepted, applicable",
    [
        ["dresunet", 0.002, False, True],  # a star field: reported, not "another model reads it"
        ["dpn92_se", 0.002, False, True],
        ["dresunet", 0.12, False, True],  # a galaxy's glow on black (session 49: 5-47% on deep-sky photographs)
        ["dresunet", 0.67, True, True],  # the smallest body of the real CT slices
        ["dresunet", None, True, True],  # not measured (a card's verdict from before session 19)
    ],
)
def test_a_ct_slice_with_nothing_the_size_of_a_body_is_no_ct_slice(model: str, share, accepted: bool, applicable: bool) -> None:
    kind = _ct_with_body(share)
    decision = check_input(_png(), get_spec(model), kind=kind)
    assert (decision.accepted, decision.applicable) == (accepted, applicable)
    if not accepted:
        assert "does not look like a chest radiograph or a chest CT slice" in decision.reason
        assert (f"nothing in it is the size of a body: its largest region brighter than the background covers {share:.1%} "
                "of the image, the body on a chest CT slice 30% or more") in decision.reason
        assert kind.to_json()["verdict"] == OTHER_KIND


@pytest.mark.parametrize(
    "share, solid, encloses, accepted, why",
    [
        [0.45, 0.97, False, False, "it encloses no lungs"],  # a galaxy's glow: solid, nothing enclosed
        [0.36, 0.18, True, False, "it is mostly outline: 18% of it is not a hole, of a chest's 40% or more"],  # a drawing
        [0.36, 0.80, True, True, ""],  # a real slice in a frame twice its area: solid, lungs enclosed
        [0.67, 0.99, False, True, ""],  # the smallest real body, cut through the chest wall: held to nothing more
        [0.45, None, None, True, ""],  # not measured (a verdict from before session 50)
    ],
)
def test_a_small_ct_slice_must_be_shaped_like_a_chest(share: float, solid, encloses, accepted: bool, why: str) -> None:
    kind = _kind(CT_SLICE_KIND, 1.0)
    kind = ImageKind(kind.kind, kind.score, kind.probabilities, body_share=share, solid_share=solid,
                     encloses_lungs=encloses)
    decision = check_input(_png(), get_spec("dresunet"), kind=kind)
    assert decision.accepted == accepted
    assert kind.verdict == (CT_SLICE_KIND if accepted else OTHER_KIND)
    if not accepted:
        assert decision.applicable
        assert (f"but it is not shaped like a chest: its largest region brighter than the background covers {share:.1%} "
                f"of the image (a chest CT slice's body 60% or more) and {why}") in decision.reason
        assert kind.to_json()["verdict"] == OTHER_KIND


def test_predicts_summary_line_says_the_verdict_and_why() -> None:
    from covidviewer.commands.predict_output import summary
    from covidviewer.inference.results import AnalysisResult

    line = summary(AnalysisResult(input="stars", status="refused", image_kind=_ct_with_body(0.002)), "stars")
    assert ("image kind: other (the image-kind model says an axial CT slice (1.00), but nothing in it is the size of a "
            "body: its largest region brighter than the background covers 0.2% of the image, the body on a chest CT slice 30% "
            "or more)") in line
    assert "image kind: axial CT slice (1.00)" in summary(AnalysisResult(input="ct", status="ok", image_kind=_ct_with_body(0.5)), "ct")


@pytest.mark.parametrize(
    "model, kind, warns",
    [
        ["dpn92_se", _kind(FRONTAL, 0.57), "not sure this is a frontal chest radiograph (0.57"],  # the full Moon
        ["dpn92_se", _kind(FRONTAL, SURE_KIND_SCORE), ""],
        ["dresunet", _kind(CT_SLICE_KIND, 0.70), "not sure this is an axial CT slice (0.70"],
        ["dresunet", _kind(CT_SLICE_KIND, 0.99), ""],
    ],
)
def test_an_answer_on_pixels_the_gate_was_unsure_of_says_so(model: str, kind: ImageKind, warns: str) -> None:
    spec = get_spec(model)
    assert check_input(_png(), spec, kind=kind).accepted
    warning = unsure_kind_warning(_png(), spec, kind)
    assert (warns in warning and warning.startswith("image-kind check: ")) if warns else warning == ""


def test_dicom_tags_that_say_what_the_image_is_need_no_unsure_warning(chest_cr: Volume) -> None:
    assert unsure_kind_warning(chest_cr, get_spec("dpn92_se"), _kind(FRONTAL, 0.57)) == ""


def _ct_tagged_slice(depth: int = 3) -> Volume:
    """Axial slices 5 mm apart with Modality CT (the tags say "an axial CT slice"), 384 mm across."""
    pixels = np.full((depth, 64, 64), -1000.0, np.float32)
    return Volume(pixels, modality="CT", spacing=(5.0, 6.0, 6.0), default_window=(-600.0, 1500.0),
                  meta={"format": "dicom", "pixel_spacing": (6.0, 6.0)})


@pytest.mark.parametrize("lung_share, accepted", [(None, False), (0.18, True)])
def test_a_ct_slice_that_holds_lung_is_a_chest_slice_whatever_the_image_kind_model_says(lung_share, accepted: bool) -> None:
    """The built-in scanner series' lung bases, beside the liver, were "other" to the image-kind model (0.93-0.98), and
    DResUNet refused them though the tags said CT and the slice held lung (session 49)."""
    other = ImageKind(OTHER_KIND, 0.97, {OTHER_KIND: 0.97, CT_SLICE_KIND: 0.03}, slice_index=1, lung_share=lung_share)
    decision = check_input(_ct_tagged_slice(), get_spec("dresunet"), 1, other)
    assert decision.accepted is accepted
    if not accepted:
        assert "the DICOM tags (Modality CT) say an axial CT slice but the pixels look like neither" in decision.reason
    assert ("lung_share" in other.to_json()) is (lung_share is not None)


@pytest.mark.parametrize("model, refused", [("dresunet", True), ("darnet", False)])
def test_a_ct_slice_that_holds_no_lung_is_refused_by_a_slice_model(model: str, refused: bool) -> None:
    """The neck or the liver: a slice model never saw one, and the series answer skips such slices too; a volume model
    reads the whole series."""
    ct = ImageKind(CT_SLICE_KIND, 0.99, {CT_SLICE_KIND: 0.99, OTHER_KIND: 0.01}, slice_index=1, lung_share=0.004)
    decision = check_input(_ct_tagged_slice(24), get_spec(model), 1, ct)  # 24 slices: enough for a volume model
    assert decision.accepted is not refused
    if refused:
        assert decision.reason == ("not analysed: this slice holds no lung (0.4% of it is aerated lung inside the body, "
                                   "a lung slice 2% or more); a CT-slice model reads slices through the lungs")


def test_a_radiograph_whose_tags_name_no_body_part_is_judged_by_its_pixels(chest_cr: Volume) -> None:
    """CR with view AP says a frontal radiograph of some part: a clavicle film so tagged (ami.js' monochrome2.dcm,
    session 51) scored 0.55 for a frontal chest film, and four chest X-ray models answered on it."""
    spec = get_spec("dpn92_se")
    unsure = _kind(FRONTAL, 0.55)
    assert unsure_kind_warning(chest_cr, spec, unsure) == ""  # its tags name the chest
    nameless = copy.copy(chest_cr)
    nameless.meta = {**chest_cr.meta, "body_part": "", "study_description": "", "series_description": ""}
    assert check_input(nameless, spec, kind=unsure).accepted
    assert "not sure this is a frontal chest radiograph (0.55" in unsure_kind_warning(nameless, spec, unsure)
    assert not check_input(nameless, spec, kind=_kind(OTHER_KIND, 0.7)).accepted


def test_the_two_lung_check_is_asked_for_wherever_the_kind_is_unsure_tags_or_not() -> None:
    """Tags can be wrong (a clavicle film tagged body part CHEST scored 0.55): the tags decide whether a warning is
    given, not whether the lung segmenter must find two lungs."""
    cxr, ct = get_spec("dpn92_se"), get_spec("dresunet")
    assert needs_lung_pair(cxr, _kind(FRONTAL, 0.55))
    assert not needs_lung_pair(cxr, _kind(FRONTAL, SURE_KIND_SCORE))
    assert not needs_lung_pair(cxr, None)  # no image-kind weights: nothing to be unsure of
    assert not needs_lung_pair(ct, _kind(CT_SLICE_KIND, 0.55))
