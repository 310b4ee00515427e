"""Which way the models read a 2D film, and their results put back onto the film as stored.

Every chest X-ray model here was trained on frontal films hung as read: upright, the patient's right on the
viewer's left, air dark. A PNG or JPEG says none of that, and a film can be stored turned, mirrored or as a
negative (a MONOCHROME1 film written out without its photometric interpretation has white air). Two checks decide
how a film is read (``GateVerdicts.reading``):

* turned, inverted or dim: where the image-kind model does not take the film as stored for any kind it knows
  ("other"), but does take it for a frontal chest radiograph (``TURNED_AT``) once turned by quarter turns and / or
  with its grey levels inverted, the film is read so (session 35: inverted, 142 of 142 frontal validation films were
  "other", and turned back 97% of them scored 0.99 or more; no DICOM test image, photograph or picture the image-kind
  model learnt "other" from, and no CT slice or lateral film, scored over 0.56 under any of these). A dim or flat
  film (its grey levels fill under ``DIM_SHARE`` of its window, as an 8-bit export of a film without its window)
  is also tried with the window stretched over its own grey levels, which the image-kind model and the lung U-Net
  read (the classifiers take their own per-image window), and a film on a page of one grey is also tried inside
  its frame (``covidviewer.imaging.hanging.framed_box``);
* upside down: where the image-kind model does take the film for a frontal film as stored, the upright check
  (``covidviewer.inference.film_upright``, session 50) may still find it turned 180 degrees;
* mirrored: the mirror check (``covidviewer.inference.film_mirror``) on the frontal film as it is then read.

The models read the film so hung (a new Volume; the loaded one is never changed), and every map, analysed box and
lung mask goes back onto the film as stored, so the viewer draws it where the reader looks; each answer says how
the film was read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from covidviewer.imaging.hanging import Hanging, framed_box
from covidviewer.imaging.preprocess import percentile_window
from covidviewer.inference.film_mirror import FilmSide
from covidviewer.inference.gate import FRONTAL
from covidviewer.inference.results import ModelResult
from covidviewer.io.colour import grey_of_cast, is_grey_film

if TYPE_CHECKING:
    from covidviewer.explain.base import Explanation
    from covidviewer.inference.gate import ImageKind
    from covidviewer.io.volume import Volume

GREY_NOTE = ("colour check: a grey image in colour with a mild cast (a film tinted, or scanned in colour); the models "
             "read its luma, as a grey film")
#: p(frontal chest radiograph) from which a film that is "other" as stored is read turned or inverted back. Session 49:
#: of 2,186 pictures from Debian packages that the image-kind model never saw and calls "other", two scored 0.92 and
#: 0.94 once inverted (a star field, a dialog box in dark mode), and three models then called them COVID-19; no other
#: scored over 0.87. Of 1,651 real frontal films of both packs, upright (as a turned film is read back), 15 score
#: under 0.95, 6 under 0.9: stored turned, those 9 more are now refused
TURNED_AT = 0.95
#: the ways a film may be stored that the image-kind model is asked about (a mirror alone is the mirror check's)
TURNED_CANDIDATES = tuple(Hanging(turns, False, inverted) for inverted in (False, True) for turns in range(4) if turns or inverted)
#: a film whose grey levels (``STRETCH_PERCENTILES``) fill less than this share of its default window is dim or flat
DIM_SHARE = 0.5
STRETCH_PERCENTILES = (1.0, 99.0)


def stretched_window(volume: "Volume") -> tuple[float, float]:
    """(centre, width) over the film's own grey levels (every 4th row and column: a window needs no more)."""
    return percentile_window(volume.pixels[..., ::4, ::4], STRETCH_PERCENTILES)


def holds_grey(volume: "Volume") -> bool:
    """Is a colour 2D image a grey film with a mild colour cast (``covidviewer.io.colour.has_mild_cast``), which the
    models read as grey? Equal channels were made grey by the reader already."""
    return volume.is_2d and volume.is_rgb and is_grey_film(volume.pixels)


def is_dim(volume: "Volume") -> bool:
    """Do the film's grey levels fill less than ``DIM_SHARE`` of the window it is shown and read with?"""
    return stretched_window(volume)[1] < DIM_SHARE * float(volume.default_window[1])


def turned_candidates(volume: "Volume") -> tuple[Hanging, ...]:
    """The readings tried on a film that is "other" as stored: turned and / or inverted; where it lies in a uniform
    frame, each of those and the film as it lies inside the frame; where it is dim, each of those with the window
    stretched."""
    candidates = TURNED_CANDIDATES
    box = framed_box(volume.pixels[0])
    if box is not None:
        inside = Hanging(crop=box, stored_shape=tuple(volume.shape[1:]))  # type: ignore[arg-type]
        candidates += tuple(replace(h, crop=inside.crop, stored_shape=inside.stored_shape) for h in (Hanging(), *TURNED_CANDIDATES))
    if is_dim(volume):
        candidates += tuple(replace(h, stretched=True) for h in (Hanging(), *candidates))
    return candidates


@dataclass(frozen=True)
class TurnedFilm:
    """An image the image-kind model takes for ``read_as`` only once read ``hanging`` (``p_read_back``): a film turned,
    inverted, dim or in a frame, or a CT slice in a frame (``read_as`` an axial CT slice, session 50); or a film it
    takes for a frontal film as stored that the upright check finds upside down (``p_upside_down``)."""

    hanging: Hanging
    as_stored: "ImageKind"
    p_read_back: float
    p_upside_down: float | None = None
    read_as: str = FRONTAL

    @property
    def evidence(self) -> str:
        """Which check found it, and how sure ("image-kind model 1.00", "upright check 0.99")."""
        if self.p_upside_down is not None:
            return f"upright check {self.p_upside_down:.2f}"
        return f"image-kind model {self.p_read_back:.2f}"

    def note(self) -> str:
        if self.read_as != FRONTAL:
            return (f"frame check: the image lies in a frame of one grey: as stored the image-kind model calls it "
                    f"{self.as_stored.kind} ({self.as_stored.score:.2f}), inside the frame {self.read_as} "
                    f"({self.p_read_back:.2f}); this answer is on the image inside its frame (its map is drawn on the "
                    "image as stored)")
        if self.p_upside_down is not None:
            found = (f"the upright check is sure of it ({self.p_upside_down:.2f}), though the image-kind model takes it "
                     f"for a frontal chest radiograph as stored too ({self.as_stored.score:.2f})")
        else:
            found = (f"as stored the image-kind model calls it {self.as_stored.kind} ({self.as_stored.score:.2f}), read "
                     f"back a frontal chest radiograph ({self.p_read_back:.2f})")
        return (f"hanging check: the film looks stored {self.hanging.words()}: {found}; the models were trained on "
                "films hung as read; this answer is on the film read back (its map is drawn on the film as stored)")


@dataclass(frozen=True)
class FilmReading:
    """How the models read one film: turned or inverted back (``turned``), then the mirror check's verdict
    (``side``); both None for anything but a frontal chest film."""

    turned: TurnedFilm | None = None
    side: FilmSide | None = None
    grey: bool = False  #: a colour file with a mild cast, read as grey (``holds_grey``)

    @property
    def hanging(self) -> Hanging:
        base = self.turned.hanging if self.turned is not None else Hanging()
        return replace(base, mirrored=self.side is not None and self.side.mirrored, grey=self.grey)

    def notes(self) -> list[str]:
        """What each answer says of it (none for a film read as stored that looks hung as read)."""
        notes = [GREY_NOTE] if self.grey else []
        notes += [self.turned.note()] if self.turned is not None else []
        return notes + ([self.side.note()] if self.side is not None and self.side.note() else [])

    def summary(self) -> str:
        """A few words beside the image kind ("stored upside down (turned 180°): read back (image-kind model 0.99);
        read mirrored back (mirror check 0.99)"); "" for a film read as stored that looks hung as read."""
        parts = ["in colour with a mild cast: read as grey"] if self.grey else []
        parts += [] if self.turned is None else [
            f"stored {self.turned.hanging.words()}: read back ({self.turned.evidence})"]
        return "; ".join(parts + ([self.side.summary()] if self.side is not None and self.side.summary() else []))

    def to_json(self) -> dict[str, Any]:
        hanging = self.hanging
        return {"read_back": bool(hanging), "stored": hanging.words(), "quarter_turns": hanging.quarter_turns,
                "mirrored": hanging.mirrored, "inverted": hanging.inverted, "stretched": hanging.stretched,
                "grey": hanging.grey,
                "p_frontal_read_back": None if self.turned is None or self.turned.read_as != FRONTAL
                else round(self.turned.p_read_back, 4),
                "read_back_as": None if self.turned is None else self.turned.read_as,
                "p_upside_down": None if self.turned is None or self.turned.p_upside_down is None
                else round(self.turned.p_upside_down, 4),
                "mirror_check": None if self.side is None else self.side.to_json()}


def read_volume(volume: "Volume", hanging: Hanging) -> "Volume":
    """The film as the models read it (a new Volume; the loaded one is left as it is)."""
    if hanging.grey and volume.is_rgb:
        volume = replace(volume, pixels=grey_of_cast(volume.pixels), is_rgb=False, warnings=list(volume.warnings))
    spacing = volume.spacing
    if hanging.quarter_turns % 2:  # rows and columns change places
        spacing = (spacing[0], spacing[2], spacing[1])
    window = stretched_window(volume) if hanging.stretched else tuple(volume.default_window)
    return replace(volume, pixels=hanging.read(volume.pixels, float(window[0])), spacing=spacing,
                   default_window=(float(window[0]), float(window[1])), warnings=list(volume.warnings))


def read_back(result: ModelResult, reading: FilmReading, noted: bool = True) -> ModelResult:
    """``result`` (computed on the film as read) with its maps, a cascade's stages' included, on the film as stored,
    and how the film was read among an answer's warnings. The cached result is left as the model gave it."""
    hanging = reading.hanging
    notes = reading.notes() if noted and result.ok else []
    if not hanging and not notes:
        return result
    stages = [read_back(stage, reading, noted=False) for stage in result.stages]
    return replace(result, explanation=_back(result.explanation, hanging), stages=stages, warnings=[*result.warnings, *notes])


def mask_back(mask: np.ndarray | None, reading: FilmReading) -> np.ndarray | None:
    """A lung mask of the film as read, on the film as stored."""
    return None if mask is None else reading.hanging.back(mask)


def _back(explanation: "Explanation | None", hanging: Hanging) -> "Explanation | None":
    if explanation is None or not hanging:
        return explanation
    read_shape = explanation.heatmap.shape[-2:]
    return replace(explanation, heatmap=hanging.back(explanation.heatmap),
                   analysed_box=hanging.box_back(explanation.analysed_box, read_shape), details=dict(explanation.details))
