"""Training data for the upright check (``covidviewer.models.film_upright``): every frontal film upright and turned
180 degrees, as ``trainer.data.film_mirror`` builds the mirror check's.

    python -m trainer make-film-upright-data [--out data/film_upright] [--shared ../shared/data]
"""
from __future__ import annotations

import sys

from trainer.data.film_mirror import UPRIGHT_CHECK
from trainer.data.film_mirror import main as build_main


def main(argv: list[str] | None = None) -> int:
    return build_main(argv, UPRIGHT_CHECK)


if __name__ == "__main__":
    sys.exit(main())
