"""The caption band of an exported map PNG: on a small image the research notice wraps, it is never cut off."""
from __future__ import annotations

import cv2
import numpy as np

from covidviewer import RESEARCH_NOTICE
from covidviewer.inference.result_files import CAPTION_MARGIN, _with_caption, caption_lines

LINES = ["dpn92_se v1  eigencam  -> COVID-19 (0.47)", f"weights bd1a6ba04b92  |  {RESEARCH_NOTICE}"]


def _width(text: str, scale: float, thickness: int) -> int:
    return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0]


def test_a_224_px_image_gets_the_whole_notice_on_lines_that_fit() -> None:
    wrapped = caption_lines(LINES, 224, 0.35, 1)
    assert len(wrapped) > len(LINES)
    assert all(_width(line, 0.35, 1) <= 224 - 2 * CAPTION_MARGIN for line in wrapped)
    assert " ".join(wrapped).split() == " ".join(LINES).replace("\u2014", "-").split()  # every word, in order
    assert "Research use only - not for diagnosis" in " ".join(wrapped)


def test_a_wide_image_keeps_one_line_per_caption_line_and_the_band_grows_with_the_wrapping() -> None:
    assert caption_lines(LINES, 1400, 1.0, 2) == [line.replace("\u2014", "-") for line in LINES]
    narrow, wide = _with_caption(np.zeros((224, 224, 3), np.uint8), LINES), _with_caption(np.zeros((224, 1400, 3), np.uint8), LINES)
    assert narrow.shape[1] == 224 and wide.shape[1] == 1400
    assert narrow.shape[0] - 224 > 2 * (int(30 * 0.35) + 6)  # more than two lines of band
