"""Orientation markers, corner text, window presets and reading order, without Qt."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.imaging.orientation import (
    EdgeLabels,
    direction_letters,
    edge_labels,
    orientation_markers,
    patient_orientation_vectors,
)
from covidviewer.imaging.view_annotations import ANONYMISED, ViewFacts, corner_text
from covidviewer.imaging.window_presets import auto_window, preset_names, preset_window, uses_hu
from covidviewer.io.volume import Volume
from covidviewer.viewer.planes import plane_geometry, reading_sign, slice_position_mm

AXIAL_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def head_first_ct(shape=(6, 8, 10), spacing=(2.5, 0.7, 0.7)) -> Volume:
    """An axial CT as the DICOM reader returns it: index 0 the most inferior slice (z ascending)."""
    meta = {"orientation": AXIAL_IOP, "modality": "CT", "patient_name": "Doe^Jane", "patient_id": "P123",
            "patient_sex": "F", "patient_age": "061Y", "study_date": "20200314", "study_description": "CHEST",
            "series_number": "3", "series_description": "Lung 2.5", "slice_thickness": 2.5}
    return Volume(np.zeros(shape, np.float32), spacing=spacing, origin=(-100.0, -120.0, -300.0),
                  modality="CT", default_window=(40.0, 400.0), meta=meta)


def radiograph(orientation: str = "L\\F", modality: str = "CR") -> Volume:
    rows = np.linspace(0, 4000, 60, dtype=np.float32)[:, None] * np.ones((1, 50), np.float32)
    meta = {"patient_orientation": orientation, "modality": modality, "view_position": "PA"}
    return Volume(rows[None], modality=modality, default_window=(15000.0, 30000.0), meta=meta)


@pytest.mark.parametrize("vector, letters", [
    ((1, 0, 0), "L"), ((-1, 0, 0), "R"), ((0, 1, 0), "P"), ((0, -1, 0), "A"), ((0, 0, 1), "H"), ((0, 0, -1), "F"),
    ((1, -1, 0), "LA"), ((0.05, 0, -1), "F"),  # a 3-degree tilt does not add a letter
    ((0, 0, 0), ""),
])
def test_direction_letters(vector, letters):
    assert direction_letters(vector) == letters


def test_pa_chest_film_has_the_patients_right_on_the_viewers_left():
    volume = radiograph("L\\F")
    markers = orientation_markers(volume, plane_geometry(volume, "axial"))
    assert markers == EdgeLabels(left="R", right="L", top="H", bottom="F")
    # the reader's turns move the markers with the image
    assert orientation_markers(volume, plane_geometry(volume, "axial", mirrored=True)).left == "L"
    turned = orientation_markers(volume, plane_geometry(volume, "axial", rotation=1))
    assert turned == EdgeLabels(left="F", right="H", top="R", bottom="L")


def test_no_markers_without_orientation():
    png = Volume(np.zeros((1, 4, 4), np.float32), meta={"format": "image"})
    assert not orientation_markers(png, plane_geometry(png, "axial"))
    assert patient_orientation_vectors("") is None and patient_orientation_vectors("L\\R") is None


@pytest.mark.parametrize("plane, expected", [
    ("axial", EdgeLabels(left="R", right="L", top="A", bottom="P")),
    ("coronal", EdgeLabels(left="R", right="L", top="H", bottom="F")),
    ("sagittal", EdgeLabels(left="A", right="P", top="H", bottom="F")),
])
def test_ct_markers_follow_the_direction_cosines(plane, expected):
    volume = head_first_ct()
    assert orientation_markers(volume, plane_geometry(volume, plane)) == expected
    # a prone scan (rows towards the patient's right, columns anterior) is re-flipped to the same layout
    prone = head_first_ct()
    prone.direction = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    prone.meta["orientation"] = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    assert orientation_markers(prone, plane_geometry(prone, plane)) == expected


def test_edge_labels_are_opposites():
    labels = edge_labels((1, 0, 0), (0, 1, 0))
    assert (labels.left, labels.right, labels.top, labels.bottom) == ("R", "L", "A", "P")


def test_rotation_and_mirror_keep_cutting_consistent():
    volume = head_first_ct()
    volume.pixels[:] = np.arange(volume.pixels.size, dtype=np.float32).reshape(volume.shape)
    base = plane_geometry(volume, "axial").cut(volume.pixels, 2)
    for rotation in range(4):
        for mirrored in (False, True):
            g = plane_geometry(volume, "axial", rotation, mirrored)
            expected = np.rot90(base, -rotation)
            expected = expected[:, ::-1] if mirrored else expected
            np.testing.assert_array_equal(g.cut(volume.pixels, 2), expected)
            z, y, x = g.to_voxel(2, 1, 3)
            assert volume.pixels[int(z), int(y), int(x)] == expected[1, 3]
            assert (g.n_rows, g.n_cols) == expected.shape


def test_reading_order_runs_towards_the_feet_with_positions_in_mm():
    volume = head_first_ct()
    axial = plane_geometry(volume, "axial")
    assert reading_sign(volume, axial) == -1  # index 0 is the most inferior slice: next = lower index
    assert slice_position_mm(volume, axial, 0) == pytest.approx(-300.0)
    assert slice_position_mm(volume, axial, 5) == pytest.approx(-300.0 + 5 * 2.5)
    assert reading_sign(volume, plane_geometry(volume, "coronal")) == 1  # y index runs anterior -> posterior
    no_orientation = Volume(np.zeros((6, 4, 4), np.float32), modality="CT")
    assert reading_sign(no_orientation, plane_geometry(no_orientation, "axial")) == 1
    assert slice_position_mm(no_orientation, plane_geometry(no_orientation, "axial"), 2) is None


def test_corner_text_says_who_what_where_and_how_and_can_be_anonymised():
    volume = head_first_ct()
    facts = ViewFacts(plane="axial", slice_number=12, n_slices=300, position_mm=-123.45, window=(-600, 1500),
                      unit="HU", zoom=1.5, rotation=90, inverted=True)
    text = corner_text(volume.meta, facts)
    assert text.top_left == ("Doe Jane", "ID P123", "F 061Y")
    assert text.top_right == ("2020-03-14", "CHEST", "Se 3: Lung 2.5", "CT")
    assert text.bottom_left == ("Axial 12/300", "z -123.5 mm", "Thick 2.5 mm")
    assert text.bottom_right == ("W 1500 L -600 HU", "Zoom 150 %", "Rot 90\u00b0 Inverted")
    hidden = corner_text(volume.meta, facts, anonymise=True)
    assert hidden.top_left == (ANONYMISED,)
    flat = " ".join(hidden.top_left + hidden.top_right + hidden.bottom_left + hidden.bottom_right)
    for secret in ("Doe", "P123", "061Y", "2020", "CHEST", "Lung"):
        assert secret not in flat
    assert hidden.top_right == ("Se 3", "CT")
    single = corner_text({}, ViewFacts())
    assert single.top_left == () and single.bottom_left == ("Image 1/1",)


def test_radiographs_get_data_windows_never_ct_ones():
    cr, ct = radiograph(), head_first_ct()
    assert not uses_hu(cr) and uses_hu(ct)
    assert preset_names(cr) == ("default", "auto", "full")
    assert preset_names(ct) == ("default", "lung", "mediastinum", "bone")
    center, width = preset_window(cr, "auto")
    low, high = center - width / 2, center + width / 2
    assert 0 < low < 200 and 3800 < high < 4000  # 1st to 99th percentile of the ramp
    assert preset_window(cr, "full") == (2000.0, 4000.0)
    assert preset_window(cr, "default") == (15000.0, 30000.0)
    with pytest.raises(KeyError):
        preset_window(cr, "brain")


def test_auto_window_ignores_a_black_border():
    film = np.zeros((100, 100), np.float32)
    film[10:90, 10:90] = np.linspace(1000, 2000, 80)[None, :]
    center, width = auto_window(film)
    assert center - width / 2 > 900  # not pulled down to the border's 0


def test_a_file_s_further_windows_follow_the_presets_of_its_kind():
    from covidviewer.imaging.window_presets import file_window_label

    cr, ct = radiograph(), head_first_ct()
    cr.meta["file_windows"] = [(12000.0, 20000.0, "HARDER"), (18000.0, 36000.0, "")]
    ct.meta["file_windows"] = [(450.0, 1500.0, "WINDOW2")]
    assert preset_names(cr) == ("default", "auto", "full", "file_2", "file_3")
    assert preset_names(ct) == ("default", "lung", "mediastinum", "bone", "file_2")
    assert preset_window(cr, "file_3") == (18000.0, 36000.0)
    assert file_window_label(cr, "file_2") == "Window: the file's window 2, HARDER (L 12000 / W 20000)"
    assert file_window_label(cr, "file_3") == "Window: the file's window 3 (L 18000 / W 36000)"
    with pytest.raises(KeyError):
        preset_window(ct, "file_3")


@pytest.mark.parametrize(("meta", "shown"), [
    ({"patient_sex": "M", "patient_age": "058Y"}, "M 058Y"),  # as written
    ({"patient_sex": "M", "patient_birth_date": "19400305", "content_date": "19950926"}, "M 055Y"),  # the built-in film's
    ({"patient_sex": "F", "patient_birth_date": "20190301", "study_date": "20200501"}, "F 014M"),
    ({"patient_sex": "F", "patient_birth_date": "20190301", "study_date": "20200501", "dates_modified": "MODIFIED"}, "F"),
    ({"patient_sex": "F", "patient_birth_date": "20200501", "study_date": "20200501"}, "F"),  # a placeholder birth date
])
def test_the_corner_text_shows_the_age_the_child_check_reads(meta, shown):
    from covidviewer.imaging.view_annotations import patient_lines

    assert patient_lines(meta)[-1] == shown
    assert patient_lines(meta, anonymise=True) == ("Anonymised",)
