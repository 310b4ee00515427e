"""Link several ``ViewerState`` objects so a change in one is mirrored in the others (Qt-free).

Used by compare grids: panes showing the same image under different overlays scroll, zoom, pan
and window together. Linking works on the states, so it needs no widgets and is testable headless.
"""
from __future__ import annotations

from typing import Callable, Iterable

from covidviewer.viewer.viewer_state import ViewerState

LINKABLE = ("plane", "slice", "window", "view_range", "cursor", "cine", "display")


class StateLink:
    """Mirrors the chosen fields between ``states`` until ``unlink()`` is called.

    fields: any of "plane", "slice", "window", "view_range", "cursor", "cine" (cine mirrors the
    speed only; one pane's timer drives the slice, which is mirrored through "slice"), "display"
    (rotation, mirror and inversion).
    On creation every state takes the first state's values, so panes start aligned.
    """

    def __init__(self, states: Iterable[ViewerState], fields: Iterable[str] = ("plane", "slice", "window", "view_range")):
        self.states = list(states)
        self.fields = tuple(fields)
        unknown = set(self.fields) - set(LINKABLE)
        if unknown:
            raise ValueError(f"cannot link {sorted(unknown)}; linkable: {LINKABLE}")
        self._syncing = False
        self._connections: list[tuple[object, Callable[..., None]]] = []
        # plane before slice: changing plane resets the slice to that plane's own index.
        for name in (f for f in LINKABLE if f in self.fields):
            for state in self.states:
                callback = self._mirror(state, name)
                signal = getattr(state.events, "slice" if name == "slice" else name)
                signal.connect(callback)
                self._connections.append((signal, callback))
        if self.states:
            self.sync_from(self.states[0])

    def _mirror(self, source: ViewerState, name: str) -> Callable[..., None]:
        def callback(*_args: object) -> None:
            self.sync_from(source, only=name)

        return callback

    def sync_from(self, source: ViewerState, only: str | None = None) -> None:
        """Copy ``source``'s linked fields (or just ``only``) into every other state."""
        if self._syncing:
            return  # a change we are propagating comes back through the other states' signals
        self._syncing = True
        try:
            for name in [only] if only else [f for f in LINKABLE if f in self.fields]:
                for target in self.states:
                    if target is not source and target.volume is not None and source.volume is not None:
                        _copy(source, target, name)
        finally:
            self._syncing = False

    def unlink(self) -> None:
        """Stop mirroring; the states keep their current values."""
        for signal, callback in self._connections:
            signal.disconnect(callback)  # type: ignore[attr-defined]
        self._connections.clear()


def _copy(source: ViewerState, target: ViewerState, name: str) -> None:
    if name == "plane":
        if target.can_reformat or source.plane == "axial":
            target.plane = source.plane
    elif name == "slice":
        if target.plane == source.plane:
            target.slice_index = source.slice_index
    elif name == "window":
        target.window = source.window
    elif name == "view_range":
        if target.plane != source.plane:
            return
        if source.view_range is None:
            target.fit()
        else:
            target.view_range = source.view_range
    elif name == "cursor":
        target.cursor = source.cursor
    elif name == "cine":
        target.cine_fps = source.cine_fps
    elif name == "display":
        target.set_display(source.display)


def link_states(states: Iterable[ViewerState], fields: Iterable[str] = ("plane", "slice", "window", "view_range")) -> StateLink:
    """Link ``states`` on ``fields``; returns the ``StateLink`` (call ``unlink()`` to undo)."""
    return StateLink(states, fields)
