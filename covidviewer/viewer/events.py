"""A minimal Qt-free signal: observers register callbacks and are called on ``emit``.

The viewer's state objects use this instead of Qt signals so that they can be created, linked and
tested without a QApplication (napari's ``EventedModel`` / ndv's models follow the same idea).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator


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
