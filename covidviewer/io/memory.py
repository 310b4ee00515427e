"""Memory budget for loaded volumes: refuse a series before decoding it if it cannot fit.

The default budget is half of the RAM available now; ``COVIDVIEWER_MAX_VOLUME_BYTES`` (bytes)
or a ``max_bytes`` argument overrides it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from covidviewer.io.errors import LoadError

ENV_MAX_BYTES = "COVIDVIEWER_MAX_VOLUME_BYTES"
_FALLBACK_AVAILABLE = 4 * 1024**3


def available_ram_bytes() -> int:
    """Physical memory available to a new allocation, best effort per platform."""
    try:  # Linux: MemAvailable counts reclaimable cache, unlike SC_AVPHYS_PAGES
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "win32":
        import ctypes

        class _MemoryStatus(ctypes.Structure):
            _fields_ = [
                ("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
            ]

        status = _MemoryStatus()
        status.dwLength = ctypes.sizeof(_MemoryStatus)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.ullAvailPhys)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_AVAILABLE


def memory_budget_bytes(max_bytes: int | None = None) -> int:
    """The largest volume (float32 bytes) a load may allocate."""
    if max_bytes is not None:
        return int(max_bytes)
    env = os.environ.get(ENV_MAX_BYTES)
    if env:
        try:
            return int(float(env))
        except ValueError:
            pass
    return available_ram_bytes() // 2


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def check_budget(nbytes: int, what: str, max_bytes: int | None = None, path: Path | None = None) -> None:
    """Raise LoadError when ``nbytes`` would exceed the memory budget."""
    budget = memory_budget_bytes(max_bytes)
    if nbytes > budget:
        raise LoadError(
            f"{what} would need {_human(nbytes)} of memory as float32, more than the "
            f"{_human(budget)} allowed (half of the available RAM; set {ENV_MAX_BYTES} to change). "
            "Open a smaller series or free memory.",
            path,
        )
