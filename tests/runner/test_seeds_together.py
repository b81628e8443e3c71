"""The seeds of a recipe trained together give the results of the seeds trained apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import tiny_experiment

from fivefold.runner.run import run_experiment


def _experiment(tmp_path: Path, name: str) -> Any:
    return tiny_experiment(
        tmp_path / name,
        seeds=[0, 1, 2],
        model={"name": "mlp", "hidden": [32], "dropout": 0.2},
        train={"epochs": 3, "grad_clip": 1.0},
        recipes={
            "baseline": [],
            "augment": [{"technique": "augment"}],
            "adversarial": [{"technique": "adversarial", "eps": 0.05, "steps": 2}],
        },
        pillars={"generalization": {}, "safety": {}},
    )


def _flat(prefix: str, value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}", v))
        return out
    if isinstance(value, float):
        return {prefix: value}
    return {}


def test_seeds_together_equal_seeds_apart(tmp_path: Path) -> None:
    together = run_experiment(_experiment(tmp_path, "a"), together=True)
    apart = run_experiment(_experiment(tmp_path, "b"), together=False)
    groups = {recipe: why for recipe, _, _, why in together.together}
    assert groups["baseline"] is None and groups["augment"] is None
    assert "adversarial" in (groups["adversarial"] or "")
    assert apart.together == []
    assert len(together.results) == len(apart.results) == 9
    for a, b in zip(together.results, apart.results, strict=True):
        assert a["trial"] == b["trial"] and a["status"] == b["status"] == "ok"
        joint = a["trial"]["recipe"] != "adversarial"
        assert a["training"]["trained_together"] == (3 if joint else 1)
        assert b["training"]["trained_together"] == 1
        assert a["training"]["epochs_run"] == b["training"]["epochs_run"]
        ma = _flat("metrics", a["metrics"]) | _flat("pillars", a["pillars"])
        mb = _flat("metrics", b["metrics"]) | _flat("pillars", b["pillars"])
        assert ma.keys() == mb.keys()
        for key in ma:
            assert ma[key] == pytest.approx(mb[key], abs=1e-4, nan_ok=True), key
    # each seed keeps its own folder, epoch log and checkpoint
    for result in together.results:
        folder = tmp_path / "a" / "run" / "trials" / result["trial"]["key"]
        assert (folder / "model.safetensors").is_file()
        lines = (folder / "history.jsonl").read_text().splitlines()
        assert len(lines) == result["training"]["epochs_run"]
        assert json.loads(lines[-1])["epoch"] == result["training"]["epochs_run"]
    seeds = [r["metrics"]["test_accuracy"] for r in together.results[:3]]
    assert len(set(seeds)) > 1 or len({r["metrics"]["test_nll"] for r in together.results[:3]}) > 1
