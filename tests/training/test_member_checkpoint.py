"""Ensemble checkpoints: every member and the combiner in one safetensors file with
member-prefixed names; damage becomes one DataError line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from fivefold.errors import DataError
from fivefold.training.checkpoint import (
    is_member_checkpoint,
    load_members,
    read_members,
    save_members,
    save_weights,
)
from fivefold.training.combiners import MeanCombiner, StackingCombiner, VoteCombiner
from fivefold.training.subject import Ensemble


def net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).eval()


@pytest.mark.parametrize(
    "combiner",
    [MeanCombiner(), MeanCombiner([0.2, 0.3, 0.5]), VoteCombiner([1.0, 2.0, 0.5])],
    ids=["mean", "weighted", "vote"],
)
def test_round_trip_gives_the_same_ensemble(tmp_path: Path, combiner: torch.nn.Module) -> None:
    members = [net(k) for k in range(3)]
    path = tmp_path / "model.safetensors"
    save_members(members, path, combiner)  # type: ignore[arg-type]
    assert is_member_checkpoint(path)
    names = set(load_file(str(path)))
    assert {"member-0.0.weight", "member-2.3.bias", "member-1.1.running_mean"} <= names
    loaded, again = load_members(lambda k: net(100 + k), path)
    assert again.kind == combiner.kind  # type: ignore[attr-defined]
    x = torch.randn(6, 4)
    want = Ensemble(members, combiner)(x)  # type: ignore[arg-type]
    torch.testing.assert_close(Ensemble(loaded, again)(x), want, rtol=0, atol=0)


def test_stacking_combiner_travels_with_its_weights(tmp_path: Path) -> None:
    combiner = StackingCombiner(2, 3)
    torch.nn.init.normal_(combiner.meta.weight)
    path = tmp_path / "m.safetensors"
    save_members([net(0), net(1)], path, combiner)
    _, again = read_members(path)
    torch.testing.assert_close(again.state_dict()["meta.weight"], combiner.meta.weight.detach())


def test_a_plain_weights_file_is_not_a_member_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "one.safetensors"
    save_weights(net(0), path)
    assert not is_member_checkpoint(path)
    assert not is_member_checkpoint(tmp_path / "missing.safetensors")
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 40)
    assert not is_member_checkpoint(tmp_path / "junk.bin")
    with pytest.raises(DataError, match="not an ensemble checkpoint"):
        read_members(path)


def damaged(tmp_path: Path, drop: str = "", meta: dict[str, str] | None = None) -> Path:
    path = tmp_path / "m.safetensors"
    save_members([net(0), net(1)], path, MeanCombiner())
    state = {k: v for k, v in load_file(str(path)).items() if not k.startswith(drop or "\0")}
    base = {"format": "fivefold-members", "members": "2", "combiner": "mean"}
    save_file(state, str(path), metadata={**base, **(meta or {})})
    return path


@pytest.mark.parametrize(
    ("drop", "meta", "message"),
    [
        ("member-1.", None, "no tensors for member 1"),
        ("", {"members": "1"}, "belongs to no member"),
        ("", {"members": "two"}, "is no count"),
        ("", {"combiner": "median"}, "unknown combiner 'median'"),
    ],
)
def test_damage_is_one_line(
    tmp_path: Path, drop: str, meta: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(DataError, match=message) as err:
        read_members(damaged(tmp_path, drop, meta))
    assert "\n" not in str(err.value)


def test_a_member_of_another_shape_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_members([net(0), net(1)], path, MeanCombiner())

    def build(k: int) -> nn.Module:
        return net(0) if k == 0 else nn.Sequential(nn.Linear(4, 5))

    with pytest.raises(DataError, match="member 1 does not match the model"):
        load_members(build, path)


def test_truncated_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_members([net(0), net(1)], path, MeanCombiner())
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DataError, match="corrupted"):
        read_members(path)
