"""What a DICOM file's words say about the body part: the chest anywhere wins, another part alone refuses, nothing
said is left to the pixels (``covidviewer.io.body_part``)."""
from __future__ import annotations

import pytest

from covidviewer.io.body_part import body_part_problem, chest_named


@pytest.mark.parametrize(
    "meta, chest, problem",
    [
        [{"body_part": "CHEST"}, "body part 'CHEST'", ""],
        [{"study_description": "THORAX"}, "study description 'THORAX'", ""],
        [{"body_part": "CHESTABDOMEN"}, "body part 'CHESTABDOMEN'", ""],  # PS3.16 codes that join the chest to more
        [{"body_part": "NECKCHEST"}, "body part 'NECKCHEST'", ""],
        [{"body_part": "ABDOMEN", "study_description": "CT CHEST ABDOMEN PELVIS"}, "study description", ""],
        [{"body_part": "SHOULDER", "series_description": "Shoulder AP"}, "", "body part is 'SHOULDER', not a chest (shoulder)"],
        [{"study_description": "X-Ray Left Clavicle(Two Views"}, "", "(clavicle)"],
        [{"series_description": "L-SPINE AP"}, "", "(spine)"],
        [{"protocol_name": "KNEE LAT"}, "", "protocol name is 'KNEE LAT', not a chest (knee)"],
        [{"study_description": "Tórax PA"}, "study description 'Tórax PA'", ""],  # accents dropped, not split on
        [{"series_description": "Lunge p.a."}, "series description", ""],
        [{"body_part": "RIBS"}, "", ""],  # a rib series holds PA chest films too: left to the pixels
        [{}, "", ""],
    ],
)
def test_the_chest_named_anywhere_wins_and_another_part_alone_refuses(meta: dict, chest: str, problem: str) -> None:
    assert chest_named(meta).startswith(chest) and bool(chest_named(meta)) == bool(chest)
    assert problem in body_part_problem(meta) and bool(body_part_problem(meta)) == bool(problem)
