"""The lungs each attention map of one image is weighed by, and each map's share of attention inside them: for the
compare grid's agreement numbers and for ``covidviewer predict``'s JSON (``attention_in_lungs``), one way for both.

On a slice a CT-slice model read, the lungs are the dark regions its body encloses (``imaging.ct_lungs``, through the
window the model reads it in); on a radiograph the lung U-Net's mask. The U-Net never draws a CT slice's lungs: it was
not trained on one (until session 45 a CT map on a single CT image was weighed by it). The numbers are an aid beside
the answers: a failure to find the lungs costs them a warning, never the analysis.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import numpy as np

from covidviewer.explain.agreement import lung_attention_share, lungs_cover

if TYPE_CHECKING:
    from covidviewer.inference import ModelResult, Predictor
    from covidviewer.io.volume import Volume


@dataclass
class MapLungs:
    """``film``: a radiograph's lung mask (None where no map needs it or no U-Net is installed); ``slices``: the lungs of
    each slice a CT-slice model read (key None: a single CT image; value None: no lungs enclosed on it)."""

    film: np.ndarray | None = None
    slices: dict[int | None, np.ndarray | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def lungs_of_maps(predictor: "Predictor", volume: "Volume", results: Iterable["ModelResult"],
                  film: np.ndarray | None = None) -> MapLungs:
    """The lungs the maps among ``results`` are weighed by; ``film``: a radiograph lung mask the analysis already has."""
    from covidviewer.inference.inputs import ct_lungs_as_read, reading_window

    mapped = [r for r in results if r.heatmap is not None]
    out = MapLungs(film)
    slices = {r.slice_index for r in mapped if predictor.store.spec(r.model).modality == "CT_SLICE"}
    try:
        for index in slices:
            out.slices[index] = ct_lungs_as_read(volume.pixels[index or 0], reading_window(volume, ct_reader=True))
    except (ValueError, RuntimeError) as exc:  # scipy's QhullError is a RuntimeError
        out.slices = {}
        out.warnings.append(f"no CT lungs for the maps' attention figures: {exc}")
    if slices or film is not None or not volume.is_2d or not mapped:
        return out
    try:  # None without a trained lung U-Net
        out.film = predictor.lung_mask(volume)
    except (ValueError, RuntimeError) as exc:
        out.warnings.append(f"no lung mask for the maps' attention figures: {exc}")
    return out


def note_attention_in_lungs(results: Iterable["ModelResult"], lungs: MapLungs) -> None:
    """Write each 2D map's share of attention inside its lungs, and the share of the region the map covers that the
    lungs cover (what a map that looked everywhere alike would score), into its explanation's details
    (``attention_in_lungs``; ``ModelResult.to_json`` writes it out). A 3D map, or one with no lungs found, gets none."""
    for result in results:
        explanation = result.explanation
        if explanation is None or explanation.heatmap.ndim != 2:
            continue
        lung = lungs.slices.get(result.slice_index) if result.slice_index in lungs.slices else lungs.film
        if lung is None or np.shape(lung) != explanation.heatmap.shape:
            continue
        share = lung_attention_share(explanation.heatmap, lung)
        if share is None:
            continue  # an empty map looks nowhere
        explanation.details["attention_in_lungs"] = {"share": round(share, 4),
                                                     "lungs_cover": round(lungs_cover(lung, explanation.analysed_box), 4)}


def weigh_maps(predictor: "Predictor", volume: "Volume", results: Iterable["ModelResult"],
               film: np.ndarray | None = None) -> MapLungs:
    """``lungs_of_maps``, then ``note_attention_in_lungs`` on the same maps: what a viewer run and ``predict`` call."""
    results = list(results)
    lungs = lungs_of_maps(predictor, volume, results, film)
    note_attention_in_lungs(results, lungs)
    return lungs
