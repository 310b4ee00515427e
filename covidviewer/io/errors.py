"""The one exception every reader raises for input it cannot turn into a Volume."""
from __future__ import annotations

from pathlib import Path


class LoadError(Exception):
    """A file or series could not be loaded; ``str(err)`` is a message fit to show a user.

    path: the offending file or folder when known.
    """

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(message)


class LoadCancelled(LoadError):
    """Loading or scanning stopped because the caller's ``cancelled()`` returned True."""
