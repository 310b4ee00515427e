"""The catalogue of runnable analyses: every classifier with the gate's decision for the shown image
and whether its trained weights are installed (what the viewer's model picker lists)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from covidviewer.inference import Predictor
    from covidviewer.io.volume import Volume


@dataclass(frozen=True)
class ModelChoice:
    """One classifier as the model picker lists it for the shown image.

    applicable: the model reads this kind of image (a CT model is not applicable to a radiograph).
    refusal: the gate's "not analysed: ..." reason for an applicable model, "" when accepted.
    available / reason / trainer_command: whether trained weights are installed, and how to train.
    """

    name: str
    version: str
    modality: str
    description: str
    applicable: bool
    refusal: str
    available: bool
    reason: str = ""
    trainer_command: str = ""
    #: the paper's model this one is an ablation of ("" for a paper's own model)
    ablation_of: str = ""

    @property
    def runnable(self) -> bool:
        """Applicable and with trained weights installed."""
        return self.applicable and self.available


def build_catalogue(predictor: "Predictor", volume: "Volume", slice_index: int | None = None) -> list[ModelChoice]:
    """Every classifier with its gate decision and availability for ``volume`` (applicable and
    runnable ones first)."""
    from covidviewer.inference.store import trainer_command

    choices = []
    for name in predictor.classifier_names():
        spec = predictor.store.spec(name)
        decision = predictor.gate(volume, name, slice_index)
        available, why = predictor.availability(name)
        choices.append(ModelChoice(
            name=name, version=spec.version, modality=spec.modality, description=spec.description or spec.paper,
            applicable=decision.applicable, refusal="" if decision.accepted else decision.reason,
            available=available, reason=why, trainer_command="" if available else trainer_command(spec),
            ablation_of=spec.ablation_of,
        ))
    return sorted(choices, key=lambda c: (not c.applicable, not c.available))


def default_models(choices: Sequence[ModelChoice]) -> tuple[str, ...]:
    """The models an Analyse runs with nothing ticked: every runnable applicable model, else every
    applicable one (so each can say why it did not run)."""
    runnable = tuple(c.name for c in choices if c.runnable)
    return runnable or tuple(c.name for c in choices if c.applicable)
