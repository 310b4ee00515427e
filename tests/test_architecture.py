"""Architecture contracts: Qt only under covidviewer.ui, one-way layers, app never imports trainer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_packages_import_without_qt() -> None:
    """io/imaging/models/.../viewer import in a process where PySide6 cannot be imported at all."""
    code = (
        "import sys; sys.modules['PySide6'] = None; sys.modules['pyqtgraph'] = None\n"
        "import covidviewer.io, covidviewer.imaging, covidviewer.models, covidviewer.explain, covidviewer.inference\n"
        "from covidviewer.analysis import agreement, catalogue, maps, methods, predictor_pool, run, run_history\n"
        "import trainer\n"
        "import covidviewer.viewer.viewer_state, covidviewer.viewer.linking, covidviewer.viewer.status_text\n"
        "import covidviewer.viewer.measurement_model\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
