"""The one vocabulary for progress and cancellation, shared by io, explain, inference, analysis and ui.

A long call takes two plain callables and knows nothing of threads or Qt:

- ``progress(done, total, message)`` (:data:`ProgressFn`), called after each step;
- ``cancelled() -> bool`` (:data:`CancelledFn`), polled between steps; once it is true the call
  raises :class:`Cancelled` at its next step boundary and leaves nothing half-done behind.

:class:`CancelToken` is the ``cancelled`` callable a UI hands to a worker: the UI thread calls
``cancel()``, the worker polls it.
"""
from __future__ import annotations

import threading
from typing import Callable

ProgressFn = Callable[[int, int, str], None]
CancelledFn = Callable[[], bool]


class Cancelled(Exception):
    """The caller's ``cancelled()`` turned true: the call stopped at a step boundary."""


class CancelToken:
    """A thread-safe ``cancelled()`` callable: the UI thread calls ``cancel()``, the worker polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the worker to stop at its next check."""
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()


def raise_if_cancelled(cancelled: CancelledFn | None) -> None:
    """Raise :class:`Cancelled` if the caller asked to stop."""
    if cancelled is not None and cancelled():
        raise Cancelled("cancelled")
