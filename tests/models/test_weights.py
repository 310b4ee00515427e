"""Weights IO: safetensors shards + index + sidecar; every way a folder can be wrong is refused."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from covidviewer import paths
from covidviewer.imaging.preprocess import Preprocess
from covidviewer.models import get_spec, list_models
from covidviewer.models.spec import ModelSpec
from covidviewer.models.unet import UNet
from covidviewer.models.weights import (
    INDEX,
    SIDECAR,
    WEIGHTS_ENV,
    WeightsError,
    load_trained_model,
    load_weights,
    read_sidecar,
    save_weights,
    weights_dir_for,
    weights_root,
    weights_sha256,
    weights_status,
)

TINY_SPEC = ModelSpec(
    name="tiny", version="1", task="classification", modality="CXR", classes=("a", "b"),
    preprocess=Preprocess(kind="cxr", size=(16, 16)), weights="tiny",
)


class TinyNet(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, 2)
        self.spec = TINY_SPEC

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def trained_tiny(width: int = 8, seed: int = 0) -> TinyNet:
    """A TinyNet whose BN running statistics moved away from their defaults."""
    torch.manual_seed(seed)
    net = TinyNet(width).train()
    net(torch.randn(4, 1, 8, 8) * 3 + 1)
    return net.eval()


def save_tiny(net: nn.Module, folder: Path, **kw: object) -> Path:
    return save_weights(net, TINY_SPEC, folder, training={"epochs": 1}, metrics={"acc": 0.5}, **kw)  # type: ignore[arg-type]


def rewrite_shard(folder: Path, mutate: Callable[[dict[str, torch.Tensor]], None], fix_index: bool = True) -> None:
    """Edit the (single) shard's tensors and re-record its hash/size, as a careless tool would."""
    sidecar = read_sidecar(folder)
    fname = next(iter(sidecar["shards"]))
    tensors = load_file(str(folder / fname))
    mutate(tensors)
    save_file(tensors, str(folder / fname))
    data = (folder / fname).read_bytes()
    sidecar["shards"][fname] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / SIDECAR).write_text(json.dumps(sidecar))
    if fix_index:
        (folder / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": {k: fname for k in tensors}}))


def state_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) and sa[k].dtype == sb[k].dtype for k in sa)


# --------------------------------------------------------------------------- format
def test_fp32_round_trip_is_bit_exact_including_batchnorm_buffers(tmp_path: Path) -> None:
    net = trained_tiny()
    save_tiny(net, tmp_path, dtype=torch.float32)
    weight_map = json.loads((tmp_path / INDEX).read_text())["weight_map"]
    assert {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"} <= set(weight_map)
    other = trained_tiny(seed=1)
    load_weights(other, tmp_path)
    assert state_equal(net, other)
    assert other.bn.num_batches_tracked.dtype == torch.int64 and other.bn.num_batches_tracked.item() == 1


def test_sidecar_records_spec_hashes_and_provenance(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path, known_biases=["COVID images are adults, others children"])
    sidecar = read_sidecar(tmp_path)
    assert ModelSpec.from_dict(sidecar["spec"]) == TINY_SPEC
    assert sidecar["dtype"] == "float16" and sidecar["training"] == {"epochs": 1} and sidecar["metrics"] == {"acc": 0.5}
    assert sidecar["known_biases"] == ["COVID images are adults, others children"]
    assert sidecar["created"] and "git_commit" in sidecar
    for fname, info in sidecar["shards"].items():
        data = (tmp_path / fname).read_bytes()
        assert info == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert not any(p.suffix in (".pt", ".pth", ".bin", ".pkl") for p in tmp_path.iterdir())


def test_shards_respect_the_size_limit(tmp_path: Path) -> None:
    net = trained_tiny(width=64)  # fc 64x2, conv 64x9 ... a few hundred bytes each
    limit_mib = 2048 / 2**20
    save_tiny(net, tmp_path, dtype=torch.float32, shard_mib=limit_mib)
    shards = read_sidecar(tmp_path)["shards"]
    n = len(shards)
    assert n > 1 and sorted(shards) == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    weight_map = json.loads((tmp_path / INDEX).read_text())["weight_map"]
    for fname, info in shards.items():
        single = sum(1 for f in weight_map.values() if f == fname) == 1
        assert info["bytes"] <= 2048 or single
    other = trained_tiny(width=64, seed=3)
    load_weights(other, tmp_path)
    assert state_equal(net, other)


def test_saving_again_replaces_only_our_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    save_tiny(trained_tiny(width=64), tmp_path, shard_mib=2048 / 2**20)
    save_tiny(trained_tiny(width=64), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([SIDECAR, INDEX, "model-00001-of-00001.safetensors", "notes.txt"])


def test_refuses_to_save_nan_or_fp16_overflow(tmp_path: Path) -> None:
    net = trained_tiny()
    with torch.no_grad():
        net.fc.bias[0] = 1e6
    with pytest.raises(ValueError, match="overflows"):
        save_tiny(net, tmp_path)
    save_tiny(net, tmp_path, dtype=torch.float32)  # fine in fp32
    with torch.no_grad():
        net.fc.bias[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        save_tiny(net, tmp_path / "b", dtype=torch.float32)


# --------------------------------------------------------------------------- refusals
def test_wrong_shape_names_file_tensor_and_shapes_and_leaves_model_alone(tmp_path: Path) -> None:
    save_tiny(trained_tiny(width=8), tmp_path)
    net = trained_tiny(width=6)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError, match=r"model-00001-of-00001\.safetensors: tensor conv\.weight: expected shape \(6, 1, 3, 3\), found \(8, 1, 3, 3\)"):
        load_weights(net, tmp_path)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_missing_tensor_is_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path)
    rewrite_shard(tmp_path, lambda t: t.pop("bn.running_var"))
    with pytest.raises(WeightsError, match=r"missing tensor\(s\) bn\.running_var"):
        load_weights(trained_tiny(), tmp_path)


def test_tensor_absent_from_its_shard_but_indexed_is_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path)
    rewrite_shard(tmp_path, lambda t: t.pop("fc.bias"), fix_index=False)
    with pytest.raises(WeightsError, match="differ from the index.*fc.bias"):
        load_weights(trained_tiny(), tmp_path)


def test_unexpected_tensor_is_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path)
    rewrite_shard(tmp_path, lambda t: t.__setitem__("extra.weight", torch.zeros(2)))
    with pytest.raises(WeightsError, match="extra.weight that the model does not have"):
        load_weights(trained_tiny(), tmp_path)


def test_nan_in_a_file_is_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path)
    rewrite_shard(tmp_path, lambda t: t["fc.weight"].fill_(float("nan")))
    with pytest.raises(WeightsError, match="fc.weight contains NaN"):
        load_weights(trained_tiny(), tmp_path)


def test_flipped_byte_is_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path)
    shard = tmp_path / "model-00001-of-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"model-00001-of-00001\.safetensors: SHA-256 mismatch"):
        load_weights(trained_tiny(), tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / SIDECAR).unlink(), "sidecar missing"),
        (lambda d: (d / SIDECAR).write_text("{"), "unreadable sidecar"),
        (lambda d: (d / "model-00001-of-00001.safetensors").unlink(), "shard missing"),
        (lambda d: (d / "model-00001-of-00001.safetensors").write_bytes(b"x"), "size 1 bytes"),
        (lambda d: (d / "model-00002-of-00002.safetensors").write_bytes(b"x"), "not in the sidecar"),
        (lambda d: (d / INDEX).unlink(), "index"),
    ],
)
def test_incomplete_folders_are_refused(tmp_path: Path, damage: Callable[[Path], object], message: str) -> None:
    save_tiny(trained_tiny(), tmp_path)
    damage(tmp_path)
    with pytest.raises(WeightsError, match=message):
        load_weights(trained_tiny(), tmp_path)


def test_weights_of_another_model_are_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(), tmp_path)
    net = trained_tiny()
    net.spec = get_spec("lung_unet")
    with pytest.raises(WeightsError, match="weights are for name 'tiny'"):
        load_weights(net, tmp_path)


# --------------------------------------------------------------------------- installed weights
@pytest.fixture()
def weights_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def unet() -> UNet:
    torch.manual_seed(0)
    net = UNet(base_channels=32).eval()
    net.spec = get_spec("lung_unet")
    return net


def test_nothing_is_trained_in_an_empty_weights_folder(weights_home: Path) -> None:
    assert weights_root() == weights_home
    assert {weights_status(n) for n in list_models()} == {"missing"}


def test_no_installed_model_claims_training_without_files() -> None:
    """The shipped resources/weights: "trained" only with a verified folder (parts for composites)."""
    for name in list_models():
        if weights_status(name) != "trained":
            continue
        spec = get_spec(name)
        for part in spec.parts.values() or [name]:
            assert (weights_dir_for(get_spec(part)) / SIDECAR).is_file()
        assert weights_status(name, verify=True) == "trained"


def test_status_and_loading_of_an_installed_model(weights_home: Path, unet: UNet) -> None:
    with pytest.raises(WeightsError, match=r"no trained weights for lung_unet .*python -m trainer fit lung_unet --data"):
        load_trained_model("lung_unet")
    folder = weights_dir_for(unet.spec)
    save_weights(unet, unet.spec, folder, training={}, metrics={}, dtype=torch.float32)
    assert weights_status("lung_unet") == "trained"
    digest = weights_sha256(folder)
    assert len(digest) == 64 and digest == weights_sha256(folder)
    loaded = load_trained_model("lung_unet")
    assert not loaded.training and state_equal(loaded, unet)
    shard = folder / sorted(read_sidecar(folder)["shards"])[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x10
    shard.write_bytes(bytes(data))
    assert weights_status("lung_unet", verify=True).startswith("invalid: ")
    assert "SHA-256" in weights_status("lung_unet", verify=True)
    assert weights_sha256(folder) == digest  # identifies the recorded set, corrupted or not


def test_status_reports_a_wrong_architecture(weights_home: Path) -> None:
    small = UNet(base_channels=16)
    small.spec = get_spec("lung_unet")
    save_weights(small, small.spec, weights_dir_for(small.spec), training={}, metrics={})
    status = weights_status("lung_unet")
    assert status.startswith("invalid: ") and "expected shape" in status


def test_shards_without_a_sidecar_are_invalid_not_missing(weights_home: Path) -> None:
    folder = weights_home / "lung_unet"
    folder.mkdir()
    (folder / "model-00001-of-00001.safetensors").write_bytes(b"")
    assert weights_status("lung_unet").startswith("invalid: ")


def test_weights_folder_names_are_checked() -> None:
    with pytest.raises(WeightsError, match="parts"):
        weights_dir_for(get_spec("cascade_semenet"))
    bad = ModelSpec(**{**TINY_SPEC.__dict__, "weights": "../elsewhere"})
    with pytest.raises(WeightsError, match="plain folder name"):
        weights_dir_for(bad)


# --------------------------------------------------------------------------- paths
def test_resource_path_in_the_source_tree() -> None:
    assert paths.resource_path("weights", "x") == paths.REPO_ROOT / "resources" / "weights" / "x"


def test_resource_path_in_a_frozen_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.resource_path("weights") == tmp_path / "resources" / "weights"


@pytest.mark.parametrize("part", ["..", "/etc", "a/../../b"])
def test_resource_path_refuses_escaping(part: str) -> None:
    with pytest.raises(ValueError, match="inside resources"):
        paths.resource_path(part)


# --------------------------------------------------------------------------- int8 storage
def test_int8_set_is_smaller_and_dequantizes_within_half_a_step(tmp_path: Path) -> None:
    net = trained_tiny(width=256)  # conv kernel 256x1x3x3 = 2304 values: stored as int8
    save_tiny(net, tmp_path / "int8", dtype=torch.int8)
    save_tiny(net, tmp_path / "fp16")
    size = lambda d: sum(p.stat().st_size for p in d.glob("*.safetensors"))  # noqa: E731
    fp16_kernel_bytes = 2 * net.conv.weight.numel()
    assert size(tmp_path / "fp16") - size(tmp_path / "int8") > 0.2 * fp16_kernel_bytes  # 9-value channels pay for their scales
    assert read_sidecar(tmp_path / "int8")["dtype"] == "int8"
    other = trained_tiny(width=256, seed=1)
    load_weights(other, tmp_path / "int8")
    w, back = net.conv.weight.detach(), other.conv.weight.detach()
    step = w.abs().reshape(256, -1).amax(1) / 127
    assert ((w - back).abs().reshape(256, -1).amax(1) <= step / 2 + 1e-7).all()
    assert not torch.equal(w, back), "the kernel really went through int8"
    torch.testing.assert_close(other.bn.running_var, net.bn.running_var, rtol=1e-3, atol=1e-3)  # small tensors: fp16
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(other(x), net(x), rtol=0.05, atol=0.05)
    assert weights_status_ok(tmp_path / "int8")


def weights_status_ok(folder: Path) -> bool:
    from covidviewer.models.weights.reader import check_files, check_header_shapes

    weight_map = check_files(folder, read_sidecar(folder), verify_hashes=True)
    check_header_shapes(folder, weight_map, trained_tiny(width=256).state_dict())
    return True


def test_int8_scale_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    save_tiny(trained_tiny(width=256), tmp_path, dtype=torch.int8)
    rewrite_shard(tmp_path, lambda t: t.__setitem__("conv.weight.__scale__", t["conv.weight.__scale__"][:-1]))
    with pytest.raises(WeightsError, match="scale"):
        load_weights(trained_tiny(width=256), tmp_path)


def test_a_withdrawn_set_is_kept_for_the_trainer_but_not_offered(weights_home: Path, unet: UNet) -> None:
    from covidviewer.inference.store import ModelStore

    folder = weights_dir_for(unet.spec)
    save_weights(unet, unet.spec, folder, training={}, metrics={})
    sidecar = json.loads((folder / SIDECAR).read_text())
    sidecar["withdrawn"] = "called 9 of 10 adult normal films COVID-19"
    (folder / SIDECAR).write_text(json.dumps(sidecar))
    assert weights_status("lung_unet") == "withdrawn: called 9 of 10 adult normal films COVID-19"
    availability = ModelStore().availability("lung_unet")
    assert not availability.available and "withdrawn" in availability.reason
    load_weights(UNet(base_channels=32), folder)  # the trainer can still audit or fine-tune from it
