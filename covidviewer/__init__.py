"""CovidViewer: an offline chest study viewer with research COVID-19 classifiers.

Research use only, not for diagnosis.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("covidviewer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"

RESEARCH_NOTICE = "Research use only \u2014 not for diagnosis"
