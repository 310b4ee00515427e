"""The one exception every reader raises for input it cannot turn into a Volume, and the guard
that turns any other exception from a third-party reader into it (``Cancelled`` passes through)."""
from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from covidviewer.io.cancel import Cancelled

_MAX_DETAIL_CHARS = 200


class LoadError(Exception):
    """A file or series could not be loaded; ``str(err)`` is a message fit to show a user.

    path: the offending file or folder when known.
    """

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(message)


def exception_detail(err: BaseException) -> str:
    """``Type: first line of the message``, short enough for a message panel."""
    kind = type(err).__name__
    module = type(err).__module__
    if module not in ("builtins", "__main__") and kind == "error":
        kind = f"{module}.{kind}"  # struct.error, zlib.error: "error" alone says nothing
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = " ".join(lines[:3])
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 3] + "..."
    return f"{kind}: {text}" if text else kind


def os_reason(err: OSError | EOFError) -> str:
    """What a person can act on, for the OS errors a read meets (not the errno soup)."""
    number = getattr(err, "errno", None)
    if number == errno.ELOOP:
        return "symbolic link loop: the link leads back to itself, never to a file"
    if number == errno.ENOENT:
        return "no such file (a broken symbolic link?)"
    if number in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if number == errno.EISDIR:
        return "it is a folder"
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


@contextmanager
def reading(path: Path | str | None, what: str = "cannot read the file") -> Iterator[None]:
    """Run a read or decode step; any exception other than LoadError becomes a LoadError.

    pydicom, its decoder plugins, SimpleITK, Pillow and OpenCV raise many types on odd input
    (ValueError, struct.error, RuntimeError, NotImplementedError, IndexError, ...). Every read in
    this package goes through here, so a caller only ever has to handle LoadError, and the
    message names the file and what went wrong. KeyboardInterrupt and ``Cancelled`` are never caught.
    """
    try:
        yield
    except (LoadError, Cancelled):
        raise
    except MemoryError as err:
        raise LoadError(f"{_name(path)}: not enough memory to read it", path) from err
    except OSError as err:
        raise LoadError(f"{_name(path)}: cannot read the file ({os_reason(err)})", path) from err
    except Exception as err:
        raise LoadError(f"{_name(path)}: {what} ({exception_detail(err)})", path) from err


def _name(path: Path | str | None) -> str:
    return Path(path).name if path is not None else "input"
