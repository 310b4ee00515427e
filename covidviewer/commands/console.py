"""Printing that never fails on a file name: lone surrogates (bytes of a non-UTF-8 name) and
characters the terminal cannot show are replaced, instead of raising UnicodeEncodeError."""
from __future__ import annotations

import sys
from typing import TextIO


def printable(text: str, stream: TextIO | None = None) -> str:
    """``text`` as ``stream`` (stdout by default) can encode it; unencodable characters become '?'."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "utf-8"
    return text.encode(encoding, errors="replace").decode(encoding, errors="replace")


def echo(text: str = "", stream: TextIO | None = None) -> None:
    """print() for text that may hold file names."""
    stream = stream or sys.stdout
    print(printable(text, stream), file=stream)


def fail(command: str, message: str) -> None:
    """One line on stderr: ``covidviewer COMMAND: message``."""
    echo(f"covidviewer {command}: {message}", sys.stderr)
