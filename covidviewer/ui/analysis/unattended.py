"""One analysis run without a user: ``covidviewer PATH --analyse MODEL[,MODEL...][:METHOD] --screenshot OUT.png``.

Once the models of the shown image are listed, the named models alone are ticked with the named
attention method and Analyse is pressed, exactly as a reader would (whole-series scoring included
on a CT series, with its default tick); ``done`` is called when the run has ended, so a screenshot
shows the map, the result card and the score strip. Used for screenshots of an analysed image and in tests.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QTimer

#: event-loop turns ``analyse_when_listed`` waits at most for the panel's layout to settle before it reports
SETTLE_TURNS = 20


def parse_analysis(text: str) -> tuple[str, str]:
    """("dresunet", "gradcam") from "dresunet:gradcam"; the method defaults to "default" (the paper's map)."""
    model, _, method = text.partition(":")
    model, method = model.strip(), method.strip() or "default"
    if not model:
        raise ValueError(f"--analyse needs MODEL[:METHOD], got {text!r}")
    return model, method


def analyse_when_listed(analysis, model: str, method: str, done: Callable[[str | None], None]) -> None:
    """Run ``model`` (one name, several joined by commas: side by side, or "all": every model that reads
    the image, as ``predict --model all``) with ``method`` on the shown image once its models are listed;
    then ``done(None)``, or ``done(reason)`` when a model or the method is not offered for the image or the
    run failed."""
    named = [name.strip() for name in model.split(",") if name.strip()]

    def on_listed(_choices) -> None:
        analysis.modelsListed.disconnect(on_listed)  # once: a later listing is another image's
        boxes = analysis.panel.models.boxes
        wanted = [name for name, box in boxes.items() if box.isEnabled()] if named == ["all"] else named
        if not wanted:
            done("no model reads this image")
            return
        for name in wanted:
            box = boxes.get(name)
            if box is None or not box.isEnabled():
                done(f"model {name!r} cannot read this image (listed: {', '.join(sorted(boxes)) or 'none'})")
                return
        for name, other in boxes.items():
            other.setChecked(name in wanted)
        methods = analysis.panel.methods
        methods.set_selected([method])
        if methods.selected() != [method]:
            done(f"no attention method {method!r}")
            return
        analysis.runEnded.connect(on_ended)
        if not analysis.analyse():
            analysis.runEnded.disconnect(on_ended)
            done("Analyse did not start")

    def on_ended() -> None:
        analysis.runEnded.disconnect(on_ended)
        # after the panel has laid out the new results: only then can it scroll to them
        QTimer.singleShot(0, lambda: finish())

    def finish(previous: tuple | None = None, turns: int = SETTLE_TURNS) -> None:
        # Scroll the panel down to the series' score strip, again on each turn of the event loop until the panel's
        # layout stops moving: word-wrapped notes above the strip may be owed their height for a few turns, and a
        # scroll made before the content reached its full height stops short of the strip (CI, session 48).
        panel = analysis.panel
        if panel.series_group.isVisibleTo(panel):
            layout = panel.widget().layout()
            if layout is not None:
                layout.activate()
            panel.ensureWidgetVisible(panel.series_group, 0, 0)
            where = (panel.series_group.y(), panel.verticalScrollBar().maximum(), panel.verticalScrollBar().value())
            if where != previous and turns > 0:
                QTimer.singleShot(0, lambda: finish(where, turns - 1))
                return
        run = analysis.run
        answered = run is not None and any(r.ok for r in run.model_results())
        done(None if answered else (analysis.errors[-1] if analysis.errors else f"{model} gave no answer"))

    analysis.modelsListed.connect(on_listed)
