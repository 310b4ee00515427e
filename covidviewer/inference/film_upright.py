"""The upright check: a frontal chest film stored upside down is read by the classifiers turned back.

The image-kind model calls a film turned by a quarter "other", and the predictor turns it back
(``covidviewer.inference.film_hanging``). Upside down, many films still look frontal to it: 53 of 1,651 real films
of both packs score 0.95 or more turned 180 degrees, and of the image-kind model's validation films stored upside
down 4 of 23 were read as they were (session 50). The upright model (``covidviewer.models.film_upright``) is asked once
per film the image-kind model calls frontal; where it is sure the film is upside down (``UPSIDE_DOWN_AT``), every
classifier reads it turned back, and the answer says so.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from covidviewer.inference.image_kind import gate_input, gate_probabilities
from covidviewer.models.film_upright import UPSIDE_DOWN

if TYPE_CHECKING:
    from torch import nn

    from covidviewer.io.volume import Volume
    from covidviewer.models.spec import ModelSpec

UPRIGHT_MODEL = "film_upright"
#: p(upside down) from which a film the image-kind model calls frontal is read turned back: most films a reader opens
#: are upright, and one misread as upside down is read wrong, so the bar is high (as the mirror check's)
UPSIDE_DOWN_AT = 0.98


def p_upside_down(model: "nn.Module", spec: "ModelSpec", volume: "Volume", x: np.ndarray | None = None) -> float:
    """The upright model's p(upside down) on the one plane of a 2D grey ``volume`` (``x``: its ``gate_input`` where
    the image-kind model already made it)."""
    probs = gate_probabilities(model, gate_input(volume, spec) if x is None else x)
    return float(probs[list(spec.classes).index(UPSIDE_DOWN)])
