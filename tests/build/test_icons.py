"""The platform icon files build.spec hands to PyInstaller exist, open, and match the SVG."""
from __future__ import annotations

from pathlib import Path

import pytest

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


@pytest.mark.parametrize(("name", "size"), [("covidviewer.ico", 256), ("covidviewer.icns", 1024), ("covidviewer-256.png", 256)])
def test_icon_file_is_a_real_square_image(name: str, size: int) -> None:
    from PIL import Image

    with Image.open(ICONS / name) as image:
        assert image.size == (size, size)
        rgba = image.convert("RGBA")
        assert rgba.getextrema()[3] == (0, 255)  # rounded corners are transparent, the body opaque


def test_ico_holds_the_small_sizes_windows_asks_for() -> None:
    from PIL import Image

    with Image.open(ICONS / "covidviewer.ico") as image:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(image.info["sizes"])
