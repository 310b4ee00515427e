"""The evented-field mechanism the viewer state is built on: declare once, assignment compares and emits."""
from __future__ import annotations

import numpy as np
import pytest

from covidviewer.io.volume import Volume
from covidviewer.viewer.events import EventedField, EventedState, evented_fields
from covidviewer.viewer.viewer_state import ViewerState


def _clamp(_state, value):
    return min(max(int(value), 0), 9)


class Player(EventedState):
    EVENTS = {"level": "level", "speed": "speed", "cine": "cine"}

    def _note_level(self, old):
        self.previous = old

    level = EventedField(0, validate=_clamp, then=_note_level, also=("cine",))
    playing = EventedField(False, event="cine")
    speed = EventedField(1.0, same=lambda old, new: abs(old - new) < 0.5)

    @property
    def cine(self):
        return (self.playing, self.speed)


def listen(state):
    seen = []
    for name in state.events.names:
        state.events[name].connect(lambda value, name=name: seen.append((name, value)))
    return seen


def test_assignment_validates_compares_and_emits_its_event_then_the_others():
    player = Player()
    seen = listen(player)
    player.level = 42
    player.level = 9  # clamped to the same value: silent
    assert (player.level, player.previous) == (9, 0)
    assert seen == [("level", 9), ("cine", (False, 1.0))]


def test_fields_may_share_an_event_that_carries_the_declared_value():
    player = Player()
    seen = listen(player)
    player.playing = True
    player.speed = 1.2  # "same" says unchanged
    player.speed = 3.0
    assert seen == [("cine", (True, 1.0)), ("speed", 3.0)]


def test_each_instance_starts_from_the_defaults_and_fields_are_listed_in_order():
    a, b = Player(), Player()
    a.level = 3
    assert (a.level, b.level) == (3, 0)
    assert [f.name for f in evented_fields(Player)] == ["level", "playing", "speed"]
    with pytest.raises(KeyError, match="no event 'nothing'"):
        a.announce("nothing")


def test_a_field_emitting_an_undeclared_event_fails_when_its_class_is_made():
    with pytest.raises(TypeError, match=r"Broken.level emits \['levels'\], not in Broken.EVENTS"):
        class Broken(EventedState):
            EVENTS = {"level": "level"}
            level = EventedField(0, event="levels")
    with pytest.raises(AttributeError, match="no event 'nothing'"):
        Player().events.nothing


def test_viewer_state_plane_change_announces_plane_then_slice_then_fitted_range():
    z, y, x = np.indices((4, 5, 6))
    state = ViewerState()
    state.set_volume(Volume(z.astype(np.float32), spacing=(3.0, 0.5, 0.8), direction=np.eye(3), modality="CT"))
    state.view_range = (0.0, 1.0, 0.0, 1.0)
    seen = listen(state)
    state.plane = "coronal"
    assert seen == [("plane", "coronal"), ("slice", 2), ("view_range", None)]


def test_new_volume_announces_every_field_while_replacing_then_the_volume_last():
    state = ViewerState()
    order = []
    for name in state.events.names:
        state.events[name].connect(lambda _value, name=name: order.append((name, state.replacing_volume)))
    state.set_volume(Volume(np.zeros((3, 4, 5), np.float32), modality="CT"))
    assert order == [(name, True) for name in ("plane", "slice", "window", "view_range", "overlay", "cine", "display")] + [
        ("volume", False)]
