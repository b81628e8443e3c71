"""Weights files: safetensors or weights-only torch state dicts; everything else is one DataError
line that says how to convert, and no pickled code ever runs."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from fivefold.errors import DataError
from fivefold.training import checkpoint
from fivefold.training.checkpoint import load_weights, read_state, save_weights

HINT = 'safetensors.torch.save_file(model.state_dict(), "model.safetensors")'


class Payload:
    """Unpickling this creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def net(width: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, width), nn.BatchNorm1d(width))


def refused(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_state(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_round_trip_and_torch_state_dict(tmp_path: Path) -> None:
    model = net()
    save_weights(model, tmp_path / "m.safetensors")
    torch.save(model.state_dict(), tmp_path / "m.pt")
    for name in ("m.safetensors", "m.pt"):
        fresh = load_weights(net(), tmp_path / name)
        for key, value in model.state_dict().items():
            assert torch.equal(fresh.state_dict()[key], value)


def test_safetensors_content_is_recognised_under_any_name(tmp_path: Path) -> None:
    save_weights(net(), tmp_path / "m.safetensors")
    (tmp_path / "m.bin").write_bytes((tmp_path / "m.safetensors").read_bytes())
    assert set(read_state(tmp_path / "m.bin")) == set(net().state_dict())


def test_torch_load_is_always_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "load", spy)
    torch.save(net().state_dict(), tmp_path / "m.pt")
    read_state(tmp_path / "m.pt")
    assert calls and all(call.get("weights_only") is True for call in calls)


@pytest.mark.parametrize("name", ["plain.pkl", "archive.pt", "protocol4.pt"])
def test_pickled_code_never_runs(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / name
    if name == "archive.pt":
        torch.save({"w": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker), protocol=2 if name == "plain.pkl" else 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's pickle-protocol warning must not leak out
        message = refused(path)
    assert not marker.exists()
    assert "is corrupted or not a checkpoint" in message and HINT in message


def test_whole_pickled_model_names_the_class(tmp_path: Path) -> None:
    torch.save(net(), tmp_path / "model.pt")
    message = refused(tmp_path / "model.pt")
    assert "torch.nn.modules.container.Sequential, which is not a tensor" in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 8, "weights_only=True"),
        (b"", "corrupted or not a checkpoint"),
        (b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage", "corrupted or not a checkpoint"),
    ],
)
def test_random_and_empty_bytes(tmp_path: Path, content: bytes, message: str) -> None:
    for suffix in (".pt", ".safetensors"):
        path = tmp_path / f"w{suffix}"
        path.write_bytes(content)
        text = refused(path)
        assert HINT in text and "corrupted or not a checkpoint" in text
    assert message in refused(tmp_path / "w.pt")


def test_truncated_files(tmp_path: Path) -> None:
    save_weights(net(), tmp_path / "m.safetensors")
    torch.save(net().state_dict(), tmp_path / "m.pt")
    for name in ("m.safetensors", "m.pt"):
        whole = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(whole[: len(whole) // 2])
        assert "corrupted or not a checkpoint" in refused(tmp_path / f"cut-{name}")


def test_missing_folder_and_non_tensor_entries(tmp_path: Path) -> None:
    assert "not found" in refused(tmp_path / "none.safetensors")
    (tmp_path / "dir.pt").mkdir()
    assert "is a folder" in refused(tmp_path / "dir.pt")
    torch.save({"epoch": 1, "w": torch.ones(1)}, tmp_path / "ckpt.pt")
    assert "entry 'epoch' that is a int" in refused(tmp_path / "ckpt.pt")
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    assert "(a list)" in refused(tmp_path / "list.pt")


def test_mismatch_names_the_first_difference(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    state = {k: v.contiguous() for k, v in net().state_dict().items()}
    cases = [
        ({**state, "0.weight": torch.zeros(5, 4)}, "'0.weight' has shape (5, 4) in the file but"),
        ({k: v for k, v in state.items() if k != "0.bias"}, "missing key '0.bias'"),
        ({**state, "extra": torch.zeros(1)}, "unexpected key 'extra'"),
    ]
    for broken, expected in cases:
        save_file(broken, str(path))
        with pytest.raises(DataError, match="does not match the model") as info:
            load_weights(net(), path)
        assert expected in str(info.value) and "\n" not in str(info.value)
    save_file({"0.weight": state["0.weight"]}, str(path))
    load_weights(net(), path, strict=False)  # a partial state dict is fine when not strict
