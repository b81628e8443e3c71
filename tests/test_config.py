"""Config loading: typed fields, one-line errors naming the field, overrides, round trips."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path

import pytest

from fivefold.config import apply_overrides, load_experiment, parse_experiment
from fivefold.errors import ConfigError
from fivefold.schema import build, option


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nam": "x"}, "nam: unknown option (did you mean 'name'?)"),
        ({"train": {"epocs": 3}}, "train.epocs: unknown option (did you mean 'epochs'?)"),
        ({"train": {"lr": -1}}, "train.lr: -1.0 is out of range; allowed: (0.0, inf]"),
        ({"train": {"batch_size": "x"}}, "train.batch_size: expected int, got string 'x'"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size: expected int, got float 1.5"),
        ({"train": {"optimizer": "adamm"}}, "did you mean 'adam'?"),
        ({"train": {"checkpoint": 1}}, "train.checkpoint: expected bool"),
        ({"data": {"label_fraction": 0}}, "data.label_fraction: 0.0 is out of range"),
        ({"data": {"label_fraction": 1.5}}, "data.label_fraction: 1.5 is out of range"),
        ({"data": {"shifts": [{"kind": "rot", "strengths": [1]}]}}, "data.shifts[0].kind"),
        ({"data": {"shifts": [{"kind": "noise"}]}}, "data.shifts[0].strengths: missing"),
        ({"seeds": [1, 1]}, "seeds: expected a list of distinct"),
        ({"seeds": [-1]}, "seeds: expected a list of distinct"),
        ({"recipes": {"a": "x"}}, "recipes.a: expected a list of techniques"),
        ({"recipes": {"a b": []}}, "recipes.a b: use letters"),
        ({"recipes": {"a": [{"technique": "no_such"}]}}, "recipes.a[0].technique: unknown"),
        ({"model": {"name": "no_such_model"}}, "model.name: unknown model"),
        ({"pillars": ["no_such_pillar"]}, "pillars: unknown pillar"),
        ({"data": {"dataset": "digitz"}}, "data.dataset: unknown dataset 'digitz'"),
        ({"train": {"lr": float("nan")}}, "train.lr: nan is not a finite number; allowed: (0.0"),
        ({"train": {"lr": float("inf")}}, "train.lr: inf is not a finite number"),
        ({"train": {"grad_clip": float("-inf")}}, "train.grad_clip: -inf is not a finite"),
        ({"train": {"warmup_epochs": float("nan")}}, "train.warmup_epochs: nan is not a finite"),
        ({"data": {"test_fraction": float("nan")}}, "data.test_fraction: nan is not a finite"),
        ({"data": {"val_fraction": float("inf")}}, "data.val_fraction: inf is not a finite"),
        (
            {"data": {"shifts": [{"kind": "noise", "strengths": [0.1, float("nan")]}]}},
            "data.shifts[0].strengths: nan is not a finite number",
        ),
        (
            {"recipes": {"a": [{"technique": "peft", "lr_scale": float("nan")}]}},
            "recipes.a[0].lr_scale: nan is not a finite number",
        ),
        ({"seeds": [2**63]}, "seeds[0]: 9223372036854775808 is out of range; a seed must be 0"),
        ({"seeds": [1, 2**64]}, "seeds[1]: 18446744073709551616 is out of range"),
        ({"seeds": 2**70}, "seeds[0]: "),
        ({"data": {"split_seed": 2**63}}, "data.split_seed: 9223372036854775808 is out of range"),
        ({"data": {"split_seed": -1}}, "data.split_seed: -1 is out of range"),
        ({"train": {"epochs": 2**64}}, "allowed: a 64-bit integer in [1, inf]"),
    ],
)
def test_bad_fields_fail_with_one_line_naming_the_field(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_experiment(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_defaults_and_round_trip() -> None:
    exp = parse_experiment({"name": "x", "train": {"epochs": 3}, "model": {"name": "mlp"}})
    assert exp.train.epochs == 3
    assert exp.recipes == {"baseline": ()}
    again = parse_experiment(exp.to_dict())
    assert again == exp
    assert again.trial_hash("baseline", 0) == exp.trial_hash("baseline", 0)
    assert exp.trial_hash("baseline", 0) != exp.trial_hash("baseline", 1)


def test_overrides_parse_toml_values_and_create_tables() -> None:
    raw = apply_overrides({"train": {"lr": 0.1}}, ["train.lr=0.01", "data.dataset=adult"])
    assert raw == {"train": {"lr": 0.01}, "data": {"dataset": "adult"}}
    assert apply_overrides({}, ["seeds=[1, 2]"])["seeds"] == [1, 2]
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, ["train.lr"])


def test_load_experiment_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_experiment(bad)
    good = tmp_path / "good.toml"
    good.write_text('[train]\nepochs = 2\n[model]\nname = "mlp"\n')
    exp = load_experiment(good, ["train.epochs=4"])
    assert exp.name == "good"
    assert exp.train.epochs == 4


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"name": ".."}, "name: use letters, digits and _ . + - (1 to 64 characters"),
        ({"name": "."}, "got '.'"),
        ({"name": ".hidden"}, "got '.hidden'"),
        ({"name": "../../escape"}, "not a path"),
        ({"name": "a/b"}, "got 'a/b'"),
        ({"name": "a\\b"}, "got 'a\\\\b'"),
        ({"name": "a\x00b"}, "got 'a\\x00b'"),
        ({"name": "a\nb"}, "got 'a\\nb'"),
        ({"name": "x" * 65}, "name: use letters"),
        ({"recipes": {"..": []}}, "recipes...: use letters"),
        ({"recipes": {"a/b": []}}, "recipes.a/b: use letters"),
        ({"recipes": {"x\ty": []}}, "recipes.x\\ty: use letters"),
    ],
)
def test_names_are_names_not_paths(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_experiment(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 300


def test_valid_names_and_names_from_overrides(tmp_path: Path) -> None:
    for name in ("a.b", "exp-1", "v2+aug", "x" * 64, "_x"):
        assert parse_experiment({"name": name, "recipes": {name: []}}).name == name
    good = tmp_path / "good.toml"
    good.write_text("seeds = [0]\n")
    with pytest.raises(ConfigError, match="name: use letters"):
        load_experiment(good, ["name=../x"])
    with pytest.raises(ConfigError, match="name: use letters"):
        load_experiment(good, ["name=.."])
    hidden = tmp_path / ".hidden.toml"
    hidden.write_text("seeds = [0]\n")
    with pytest.raises(ConfigError, match=r"got '\.hidden'"):
        load_experiment(hidden)


def test_experiments_built_in_code_are_checked_too() -> None:
    exp = parse_experiment({"name": "x"})
    with pytest.raises(ConfigError, match="name: use letters"):
        dataclasses.replace(exp, name="../x")
    with pytest.raises(ConfigError, match=r"recipes\.\.\.: use letters"):
        dataclasses.replace(exp, recipes={"..": ()})


def test_seed_range_is_named_and_its_edges_are_accepted() -> None:
    with pytest.raises(ConfigError, match=r"0 <= seed < 2\*\*63 \(torch.manual_seed's range\)"):
        parse_experiment({"seeds": [2**63]})
    exp = parse_experiment({"seeds": [0, 2**63 - 1], "data": {"split_seed": 2**63 - 1}})
    assert exp.seeds == (0, 2**63 - 1)


@dataclasses.dataclass(frozen=True)
class Limits:
    cap: float = option(1.0, help="a cap (inf: none)", finite=False)
    weights: Mapping[str, float] | None = option(None, help="per-key weights")


def test_a_field_may_allow_non_finite_floats() -> None:
    assert math.isinf(build(Limits, {"cap": float("inf")}, "x").cap)
    with pytest.raises(ConfigError, match=r"x.weights.b: nan is not a finite number"):
        build(Limits, {"weights": {"a": 1.0, "b": float("nan")}}, "x")


def test_empty_experiment_file_says_what_it_needs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("\n# nothing yet\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(empty)
    assert str(info.value).startswith(f"{empty} is empty; an experiment needs at least [data]")
    assert "[recipes]" in str(info.value)
    assert load_experiment(empty, ["train.epochs=2"]).train.epochs == 2  # overrides fill it


def test_a_pillar_twice_fails_as_a_list_and_as_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="robustness listed twice"):
        parse_experiment({"pillars": ["robustness", "robustness"]})
    twice = tmp_path / "twice.toml"
    twice.write_text("[pillars.robustness]\n[pillars.robustness]\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_experiment(twice)


def test_audit_seed_is_checked_before_any_work(tmp_path: Path) -> None:
    from fivefold.audit import AuditRequest, data_config_for

    with pytest.raises(ConfigError, match=r"--seed: 9223372036854775808 is out of range"):
        AuditRequest("m:f", tmp_path / "w", data_config_for("digits", {}), (), tmp_path, 2**63)
