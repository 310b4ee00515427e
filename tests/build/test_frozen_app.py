"""Smoke test of the frozen one-folder app (``dist/CovidViewer``) that ``scripts/build-app`` builds.

The executable runs the way it would on a clean machine: offscreen Qt, an empty HOME, a working
folder outside the source tree, no PYTHONPATH / virtualenv in the environment. A missing module,
Qt plugin, DICOM decoder plugin or data file shows up as a traceback or a loader message on stderr
(or as output that differs from the source tree's) and fails the test.

Marked ``slow``: it needs a build (minutes, GBs). ``COVIDVIEWER_BUILD`` names the app folder; without
it the test uses ``dist/CovidViewer`` and skips when that is absent.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
BUILD_ENV = "COVIDVIEWER_BUILD"
APP_NAME = "CovidViewer"
# Messages that mean the bundle is missing something, whatever the exit code says.
BUNDLE_FAILURES = (
    "Traceback (most recent call last)",
    "ModuleNotFoundError",
    "No module named",
    "ImportError",
    "PackageNotFoundError",
    "FileNotFoundError",
    "operator torchvision::nms does not exist",
    "Couldn't load custom C++ ops",
    "Failed to load '",  # torchvision's warning when TORCHVISION_WARN_WHEN_EXTENSION_LOADING_FAILS is set
    "Could not find the Qt platform plugin",
    "could not load the Qt platform plugin",
    "qt.qpa.plugin",
    "Cannot load library",
    "No available pixel data handlers",
    "no pixel data decoders",
)
# Compressed transfer syntaxes the bundled decoders must handle (file name -> decoder it needs).
COMPRESSED_SAMPLES = {
    "693_J2KR.dcm": "JPEG 2000 lossless (pylibjpeg-openjpeg)",
    "JPGLosslessP14SV1_1s_1f_8b.dcm": "JPEG lossless (pylibjpeg-libjpeg)",
    "emri_small_jpeg_ls_lossless.dcm": "JPEG-LS (pylibjpeg-libjpeg)",
    "SC_rgb_jpeg_dcmtk.dcm": "JPEG baseline",
    "MR_small_RLE.dcm": "RLE lossless",
}
# Top-level packages build.spec keeps out of the app.
NOT_BUNDLED = {"trainer", "tests", "bench", "pytest", "triton", "setuptools", "tkinter", "PyQt5", "PyQt6", "PySide2"}
# The smallest stand-alone chest radiograph and CT-slice models, run with smoke-test weights.
SMOKE_MODELS = ("dpn92_se", "dresunet")


@pytest.fixture(scope="module")
def app_dir() -> Path:
    """The built one-folder app; skips when none was built and none was named."""
    named = os.environ.get(BUILD_ENV)
    folder = Path(named) if named else REPO / "dist" / APP_NAME
    if not folder.is_dir():
        if named:
            pytest.fail(f"{BUILD_ENV}={named} is not a folder: the build did not produce the app")
        pytest.skip(f"no frozen app at {folder} and {BUILD_ENV} unset: build it with scripts/build-app")
    return folder


@pytest.fixture(scope="module")
def executable(app_dir: Path) -> Path:
    path = app_dir / (f"{APP_NAME}.exe" if sys.platform == "win32" else APP_NAME)
    assert path.is_file() and os.access(path, os.X_OK), f"{path} is missing or not executable"
    return path


@pytest.fixture(scope="module")
def bundle_data(app_dir: Path) -> Path:
    """Where PyInstaller 6 puts data and libraries in a one-folder app (``sys._MEIPASS``)."""
    internal = app_dir / "_internal"
    return internal if internal.is_dir() else app_dir


@pytest.fixture()
def clean_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def clean_environment(home: Path) -> dict[str, str]:
    """The environment of a user who never installed Python: no venv, no PYTHONPATH, empty HOME."""
    dropped = ("PYTHON", "VIRTUAL_ENV", "CONDA", "QT_", "COVIDVIEWER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        QT_QPA_PLATFORM="offscreen",
        TORCHVISION_WARN_WHEN_EXTENSION_LOADING_FAILS="1",
        OMP_NUM_THREADS="2",
    )
    return env


def run_frozen(
    executable: Path, *args: str, home: Path, timeout: float = 900, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the frozen app; fail on a non-zero exit or on any sign of a missing bundle part."""
    result = subprocess.run(
        [str(executable), *args],
        cwd=home,
        env={**clean_environment(home), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + "\n" + result.stderr
    missing = [message for message in BUNDLE_FAILURES if message in output]
    assert not missing, f"frozen app {' '.join(args)!r} reported {missing}:\n{result.stderr[-6000:]}"
    assert result.returncode == 0, f"frozen app {' '.join(args)!r} exited {result.returncode}:\n{result.stderr[-6000:]}"
    return result


def run_source(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The same command from the source tree, the reference the frozen app must match."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVIDVIEWER_")}
    env.update(QT_QPA_PLATFORM="offscreen", **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-m", "covidviewer", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=True
    )


def bundled_sample(bundle_data: Path, name: str) -> Path:
    found = sorted(bundle_data.rglob(name))
    assert found, f"sample {name} is not in the bundle"
    return found[0]


def test_bundle_holds_resources_plugins_and_ops(bundle_data: Path) -> None:
    from covidviewer.io import samples

    source_resources = REPO / "resources"
    for path in source_resources.rglob("*"):
        if path.is_file():
            bundled = bundle_data / "resources" / path.relative_to(source_resources)
            assert bundled.is_file(), f"{path.relative_to(REPO)} is not in the bundle"
    for name in samples.SAMPLE_FILES.values():
        bundled_sample(bundle_data, name)
    plugins = next(bundle_data.rglob("PySide6/Qt/plugins"), None)
    assert plugins is not None, "Qt plugins are not in the bundle"
    for plugin in ("platforms/*qoffscreen*", "platforms/*qxcb*", "imageformats/*qsvg*", "iconengines/*qsvgicon*"):
        if sys.platform != "linux" and "xcb" in plugin:
            continue
        assert list(plugins.glob(plugin)), f"Qt plugin {plugin} is not in the bundle"
    assert list((bundle_data / "torchvision").glob("_C*")), "torchvision ops library is not in the bundle"


def test_archive_holds_every_app_module_and_nothing_excluded(executable: Path) -> None:
    """Every module of the source tree's covidviewer package is frozen in (a missing one also means the
    bundle is older than the source), and the trainer, tests, bench and excluded heavy packages are not."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(executable))
    bundled = set(archive.open_embedded_archive(next(n for n in archive.toc if n.endswith(".pyz"))).toc)
    package = REPO / "covidviewer"
    source = {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert not sorted(source - bundled), f"not in the bundle (or the bundle is older than the source): {sorted(source - bundled)}"
    leaked = sorted(name for name in bundled if name.split(".")[0] in NOT_BUNDLED)
    assert not leaked, f"excluded packages were bundled: {leaked[:20]}"


def test_version_matches_the_package(executable: Path, clean_home: Path) -> None:
    from covidviewer import __version__

    result = run_frozen(executable, "--version", home=clean_home, timeout=120)
    assert result.stdout.strip() == f"covidviewer {__version__}"


def test_sample_screenshot_shows_an_image(executable: Path, clean_home: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    out = tmp_path / "out.png"
    run_frozen(executable, "--sample", "--screenshot", str(out), "--size", "1000x700", home=clean_home)
    assert out.is_file() and out.stat().st_size > 0
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (1000, 700)
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    # A window showing the radiograph has many grey levels; a blank or failed render has a handful.
    assert len(np.unique(pixels)) > 64


def test_inspect_sample_matches_source(executable: Path, bundle_data: Path, clean_home: Path, tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    shutil.copy2(bundled_sample(bundle_data, "RG1_UNCI.dcm"), study / "RG1_UNCI.dcm")
    frozen = json.loads(run_frozen(executable, "inspect", str(study), "--json", home=clean_home).stdout)
    source = json.loads(run_source("inspect", str(study), "--json").stdout)
    assert frozen == source
    [series] = [s for st in frozen["studies"] for s in st["series"]]
    assert series["modality"] == "CR" and series["error"] is None
    assert sorted(p.name for p in study.iterdir()) == ["RG1_UNCI.dcm"], "inspect wrote into the user's folder"


def test_compressed_dicom_decodes_like_source(executable: Path, clean_home: Path, tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    folder = tmp_path / "compressed"
    for name in COMPRESSED_SAMPLES:
        source_file = get_testdata_file(name, download=False)
        assert source_file, f"{name} missing from pydicom / pydicom-data in the build venv"
        (folder / Path(name).stem).mkdir(parents=True)
        shutil.copy2(source_file, folder / Path(name).stem / name)
    frozen = json.loads(run_frozen(executable, "inspect", str(folder), "--json", home=clean_home).stdout)
    source = json.loads(run_source("inspect", str(folder), "--json").stdout)
    loaded = {Path(s["first_file"]).name: s for st in frozen["studies"] for s in st["series"]}
    for name, decoder in COMPRESSED_SAMPLES.items():
        assert name in loaded, f"{name} ({decoder}) not found by the frozen app: {frozen['unreadable']}"
        assert loaded[name]["error"] is None and "shape" in loaded[name], f"{decoder}: {loaded[name]['error']}"
    assert frozen == source


def write_chest_ct(path: Path) -> None:
    """A 24-slice synthetic chest CT (air, soft-tissue body, two lungs) as NIfTI, read through SimpleITK."""
    import numpy as np
    import SimpleITK as sitk

    z, y, x = np.mgrid[:24, :160, :160]
    hu = np.full(z.shape, -1000, np.int16)
    hu[((y - 80) / 60.0) ** 2 + ((x - 80) / 75.0) ** 2 < 1] = 40
    for lung_x in (50, 110):
        hu[((y - 78) / 40.0) ** 2 + ((x - lung_x) / 22.0) ** 2 < 1] = -820
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing((2.5, 2.5, 5.0))  # 400 mm field of view: passes the chest-CT input gate
    sitk.WriteImage(image, str(path))


@pytest.fixture(scope="module")
def smoke_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded, randomly initialised weights in the installed format, so the frozen app runs real
    inference and Grad-CAM even before any model is trained. Only these tests ever load them; the
    sidecar says they are not trained."""
    import torch

    from covidviewer.models import create_model, get_spec
    from covidviewer.models.weights import save_weights

    root = tmp_path_factory.mktemp("smoke_weights")
    for name in SMOKE_MODELS:
        torch.manual_seed(0)
        spec = get_spec(name)
        model = create_model(name).eval()
        save_weights(model, spec, root / spec.weights, training={"note": "smoke test only: random, NOT trained"}, metrics={})
    return root


def test_models_listing_matches_source(executable: Path, clean_home: Path) -> None:
    frozen = json.loads(run_frozen(executable, "models", "--json", home=clean_home).stdout)
    source = json.loads(run_source("models", "--json").stdout)
    assert frozen == source  # same registry, same bundled weights (status and SHA-256)


def _outline(report: dict) -> tuple:
    """What a predict report decided, without timings and paths."""
    return (
        report["status"],
        report["reason"],
        [(m["model"], m["status"], m["reason"], m.get("label"), m["weights_sha256"]) for m in report["models"]],
        [(m["model"], m["reason"]) for m in report["unavailable"]],
        report["not_applicable"],
    )


def test_predict_sample_with_bundled_weights(executable: Path, bundle_data: Path, clean_home: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy2(bundled_sample(bundle_data, "RG1_UNCI.dcm"), inputs / "RG1_UNCI.dcm")
    args = [str(inputs / "RG1_UNCI.dcm"), "--model", "all", "--explain", "gradcam"]
    frozen_out, source_out = tmp_path / "frozen", tmp_path / "source"
    run_frozen(executable, "predict", *args, "--out", str(frozen_out), home=clean_home)
    run_source("predict", *args, "--out", str(source_out))
    report = json.loads((frozen_out / "RG1_UNCI.json").read_text())
    assert _outline(report) == _outline(json.loads((source_out / "RG1_UNCI.json").read_text()))

    rows = json.loads(run_frozen(executable, "models", "--json", home=clean_home).stdout)
    trained = {r["name"]: r["weights_sha256"] for r in rows if r["weights"] == "trained"}
    for entry in report["unavailable"]:
        assert entry["status"] == "unavailable" and entry["reason"], entry
        assert entry["model"] not in trained, f"{entry['model']} has trained weights but was unavailable: {entry['reason']}"
    for entry in report["models"]:
        if entry["status"] == "refused":  # the input gate's decision, e.g. a model for another modality
            assert entry["reason"], entry
            continue
        assert entry["status"] == "ok", entry
        assert entry["weights_sha256"] == trained[entry["model"]]
        assert abs(sum(entry["probabilities"].values()) - 1) < 1e-3
        assert (frozen_out / entry["maps"]["npy"]).is_file() and (frozen_out / entry["maps"]["png"]).is_file()
    if not any(entry["status"] == "ok" for entry in report["models"]):
        assert report["status"] == "refused" and report["reason"], "no model ran, and the report does not say why"


def test_inference_and_gradcam_match_source(
    executable: Path, bundle_data: Path, smoke_weights: Path, clean_home: Path, tmp_path: Path
) -> None:
    import numpy as np

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy2(bundled_sample(bundle_data, "RG1_UNCI.dcm"), inputs / "RG1_UNCI.dcm")
    write_chest_ct(inputs / "chest_ct.nii.gz")
    args = [str(inputs / "RG1_UNCI.dcm"), str(inputs / "chest_ct.nii.gz"), "--model", ",".join(SMOKE_MODELS), "--explain", "gradcam"]
    weights_env = {"COVIDVIEWER_WEIGHTS_DIR": str(smoke_weights)}
    frozen_out, source_out = tmp_path / "frozen", tmp_path / "source"
    run_frozen(executable, "predict", *args, "--out", str(frozen_out), home=clean_home, extra_env=weights_env)
    run_source("predict", *args, "--out", str(source_out), extra_env=weights_env)
    ran = []
    for report_path in sorted(source_out.glob("*.json")):
        source = json.loads(report_path.read_text())
        frozen = json.loads((frozen_out / report_path.name).read_text())
        assert frozen["status"] == source["status"] == "ok", (frozen["reason"], source["reason"])
        for f_entry, s_entry in zip(frozen["models"], source["models"], strict=True):
            assert [f_entry[k] for k in ("model", "status", "reason")] == [s_entry[k] for k in ("model", "status", "reason")]
            if s_entry["status"] != "ok":  # the other model refuses this modality, in both
                continue
            assert f_entry["label"] == s_entry["label"]
            for cls, p in s_entry["probabilities"].items():
                assert f_entry["probabilities"][cls] == pytest.approx(p, abs=1e-4)
            f_map, s_map = (np.load(d / e["maps"]["npy"]) for d, e in ((frozen_out, f_entry), (source_out, s_entry)))
            assert f_map.shape == s_map.shape and np.allclose(f_map, s_map, atol=1e-3)
            assert (frozen_out / f_entry["maps"]["png"]).stat().st_size > 0
            ran.append(f_entry["model"])
    assert sorted(ran) == sorted(SMOKE_MODELS)
    assert sorted(p.name for p in inputs.iterdir()) == ["RG1_UNCI.dcm", "chest_ct.nii.gz"], "predict wrote into the inputs"


def test_lime_explanation_runs(executable: Path, smoke_weights: Path, clean_home: Path, tmp_path: Path) -> None:
    """LIME pulls in scikit-learn and scikit-image segmentation, which only this path imports."""
    import numpy as np

    ct = tmp_path / "chest_ct.nii.gz"
    write_chest_ct(ct)
    out = tmp_path / "lime"
    run_frozen(
        executable, "predict", str(ct), "--model", "dresunet", "--explain", "lime", "--lime-samples", "20", "--out", str(out),
        home=clean_home, extra_env={"COVIDVIEWER_WEIGHTS_DIR": str(smoke_weights)},
    )
    [report_path] = out.glob("*.json")
    [entry] = json.loads(report_path.read_text())["models"]
    assert (entry["status"], entry["method"]) == ("ok", "lime")
    lime_map = np.load(out / entry["maps"]["npy"])
    assert lime_map.shape == tuple(entry["maps"]["shape"]) and np.isfinite(lime_map).all()
