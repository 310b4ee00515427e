"""Qt-free observer signals and evented state: declare a field once, assignments emit its event.

The viewer's state objects use these instead of Qt signals so that they can be created, linked and
tested without a QApplication (napari's ``EventedModel`` / psygnal's evented dataclass / ndv's
models follow the same idea). ``Signal`` is the callback list; ``EventedField`` is a declared field
whose assignment validates, compares and emits; ``EventedState`` gives a class its ``events``.
"""
from __future__ import annotations

import operator
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, Generic, Iterable, Iterator, TypeVar, overload

T = TypeVar("T")


class Signal:
    """A list of callbacks called in connection order with the emitted arguments.

    A callback that raises does not stop the others; the first exception is re-raised after all
    callbacks ran, so a broken observer cannot silently freeze the rest of the UI.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []
        self._blocked = 0

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``callback``; returns it so ``connect`` can be used as a decorator."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any] | None = None) -> None:
        """Remove one callback, or all of them when ``callback`` is None."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Suppress emissions inside the ``with`` block."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def emit(self, *args: Any) -> None:
        """Call every callback with ``args``."""
        if self._blocked:
            return
        first_error: BaseException | None = None
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception as err:  # keep notifying the others, then re-raise
                if first_error is None:
                    first_error = err
        if first_error is not None:
            raise first_error

    def __len__(self) -> int:
        return len(self._callbacks)


class EventGroup:
    """One ``Signal`` per event name, reached as ``events.<name>``."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        for name in self.names:
            setattr(self, name, Signal(name))

    def __getitem__(self, name: str) -> Signal:
        if name not in self.names:
            raise KeyError(f"no event {name!r}; events: {self.names}")
        return getattr(self, name)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Signal:
        # reached only for a name that is not an event; declared so that ``events.<name>`` is a Signal to type checkers
        raise AttributeError(f"no event {name!r}; events: {self.__dict__.get('names', ())}")


class EventedField(Generic[T]):
    """A declared field of an ``EventedState``: assigning it validates the value, compares it with the
    stored one and, only when it changed, stores it and emits its event.

    validate(state, value) -> value: coerce, clamp or raise; returning the stored value makes the
        assignment a no-op (a slice index without a volume).
    same(old, new): whether the new value counts as unchanged (default ``==``).
    event: the event it emits, by default the field's own name; fields may share one (cine's playing
        and speed both emit ``cine``). Every event carries the value the state's ``EVENTS`` names.
    then(state, old): dependent state updated after storing, before anyone hears (a new plane's geometry).
    also: events emitted after its own (a new plane also announces its slice and its fitted range).
    The value is stored as ``_<name>`` on the instance, where the class's own methods may set it
    silently and announce several changes at once (``EventedState.announce``).
    """

    def __init__(
        self,
        default: T,
        *,
        validate: Callable[[Any, Any], T] | None = None,
        same: Callable[[T, T], bool] = operator.eq,
        event: str | None = None,
        then: Callable[[Any, T], None] | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        self.default = default
        self.validate = validate
        self.same = same
        self.event = event
        self.then = then
        self.also = also
        self.name = ""
        self.private = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.private = name, f"_{name}"
        self.event = self.event or name

    @overload
    def __get__(self, state: None, owner: type | None = None) -> EventedField[T]: ...

    @overload
    def __get__(self, state: object, owner: type | None = None) -> T: ...

    def __get__(self, state: object | None, owner: type | None = None) -> T | EventedField[T]:
        if state is None:
            return self
        return getattr(state, self.private, self.default)  # type: ignore[no-any-return]

    def __set__(self, state: EventedState, value: Any) -> None:
        if self.validate is not None:
            value = self.validate(state, value)
        old = self.__get__(state)
        if self.same(old, value):
            return
        setattr(state, self.private, value)
        if self.then is not None:
            self.then(state, old)
        state.announce(self.event or self.name, *self.also)


class EventedState:
    """Base of a Qt-free state object whose ``EventedField`` s emit ``events.<event>`` on change.

    ``EVENTS`` maps each event name to the attribute whose current value it carries; the order
    is the order of ``events.names``.
    """

    EVENTS: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for field in evented_fields(cls):  # a field naming an undeclared event fails at import, not on first use
            unknown = [name for name in (field.event, *field.also) if name not in cls.EVENTS]
            if unknown:
                raise TypeError(f"{cls.__name__}.{field.name} emits {unknown}, not in {cls.__name__}.EVENTS")

    def __init__(self) -> None:
        self.events = EventGroup(tuple(self.EVENTS))
        for field in evented_fields(type(self)):
            setattr(self, field.private, field.default)

    def announce(self, *events: str) -> None:
        """Emit ``events`` in order, each with its current value (after changes made silently)."""
        for name in events:
            self.events[name].emit(getattr(self, self.EVENTS[name]))


def evented_fields(cls: type) -> list[EventedField[Any]]:
    """The ``EventedField`` s declared on ``cls`` and its bases, in declaration order."""
    found: dict[str, EventedField[Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, EventedField):
                found[name] = value
    return list(found.values())
