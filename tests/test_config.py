"""Config loading: typed fields, one-line errors naming the field, overrides, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from fivefold.config import apply_overrides, load_experiment, parse_experiment
from fivefold.errors import ConfigError


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
