"""MeasurementModel's events, Qt-free: the selection is a declared field, list changes announce ``changed``."""
from __future__ import annotations

from covidviewer.imaging.measurements import Length
from covidviewer.viewer.measurement_model import MeasurementModel


def _length(index: int = 0) -> Length:
    return Length(plane="axial", slice_index=index, points=((index, 0, 0), (index, 0, 4)), length=4.0)


def listen(model: MeasurementModel) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    model.events.changed.connect(lambda items: seen.append(("changed", [m.id for m in items])))
    model.events.selected.connect(lambda measurement_id: seen.append(("selected", measurement_id)))
    return seen


def test_add_and_select_emit_once_each():
    model = MeasurementModel()
    seen = listen(model)
    first = _length()
    model.add(first)
    model.selected_id = first.id
    model.selected_id = first.id  # unchanged: no event
    assert seen == [("changed", [first.id]), ("selected", first.id)]
    assert model.items == [first] and model.selected_id == first.id


def test_an_unknown_id_selects_nothing():
    model = MeasurementModel()
    first = _length()
    model.add(first)
    model.selected_id = first.id
    seen = listen(model)
    model.selected_id = "no-such-id"
    assert model.selected_id is None and seen == [("selected", None)]


def test_removing_the_selected_one_drops_the_selection_before_the_list_is_announced():
    model = MeasurementModel()
    first, second = _length(0), _length(1)
    model.add(first)
    model.add(second)
    model.selected_id = second.id
    seen = listen(model)
    heard_items = []
    model.events.selected.connect(lambda _id: heard_items.append([m.id for m in model.items]))
    assert model.remove(second.id) and not model.remove(second.id)
    assert seen == [("selected", None), ("changed", [first.id])]
    assert heard_items == [[first.id]]  # the list is stored before anyone hears


def test_replace_drops_the_selection_and_always_announces():
    model = MeasurementModel()
    first = _length()
    model.add(first)
    model.selected_id = first.id
    seen = listen(model)
    model.replace([first])
    model.replace([first])
    assert seen == [("selected", None), ("changed", [first.id]), ("changed", [first.id])]
    assert model.on_slice("axial", 0) == [first] and model.on_slice("axial", 1) == []
