"""Result files: a validated read against the versioned schema, every corruption named."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fivefold.results.files import (
    SCHEMA_VERSION,
    read_result,
    read_result_checked,
    read_results,
    read_results_checked,
    validate_result,
    write_json,
)

FIXTURE = Path(__file__).parents[1] / "report" / "fixtures" / "run" / "trials"


def valid() -> dict[str, Any]:
    """A finished result as the runner writes it (the committed report fixture)."""
    data: dict[str, Any] = json.loads((FIXTURE / "baseline" / "seed-0" / "result.json").read_text())
    return data


def _set(path: str, value: object) -> Callable[[dict[str, Any]], object]:
    def edit(data: dict[str, Any]) -> object:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
        return data

    return edit


def _drop(path: str) -> Callable[[dict[str, Any]], object]:
    def edit(data: dict[str, Any]) -> object:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]
        return data

    return edit


CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "missing metrics": (_drop("metrics"), "metrics is missing"),
    "metrics without test_accuracy": (_drop("metrics.test_accuracy"), "test_accuracy"),
    "metrics a list": (_set("metrics", [0.9]), "metrics should be an object"),
    "NaN as a string": (_set("metrics.test_accuracy", "NaN"), "string 'NaN'"),
    "metric infinite": (_set("metrics.test_nll", math.inf), "metrics.test_nll"),
    "metric a boolean": (_set("metrics.test_accuracy", True), "boolean"),
    "wrong schema_version": (_set("schema_version", SCHEMA_VERSION + 1), "schema_version"),
    "schema_version true": (_set("schema_version", True), "schema_version"),
    "a list instead of a dict": (lambda d: [d], "expected a JSON object, got a list"),
    "missing trial key": (_drop("trial.key"), "trial.key is missing"),
    "seed a string": (_set("trial.seed", "0"), "trial.seed should be an integer"),
    "fraction zero": (_set("trial.fraction", 0.0), "trial.fraction"),
    "unknown status": (_set("status", "done"), "status"),
    "failed without error": (_set("status", "failed"), "error of a failed trial"),
    "config_hash a number": (_set("config_hash", 7), "config_hash"),
    "timings a string": (_set("timings.total_s", "1 s"), "timings"),
    "pillar metric without direction": (
        _drop("pillars.safety.metrics.ece.higher_is_better"),
        "pillars.safety.metrics.ece",
    ),
    "pillar without headline": (_drop("pillars.robustness.headline"), "pillars.robustness"),
    "pillar a list": (_set("pillars.safety", []), "pillars.safety should be an object"),
    "pillar tables rows": (_set("pillars.safety.tables", {"x": [1]}), "tables.x"),
    "pillar notes numbers": (_set("pillars.safety.notes", [1]), "notes"),
}


def test_the_runner_fixture_and_nan_metrics_are_valid(tmp_path: Path) -> None:
    data = valid()
    assert validate_result(data) is None
    data["metrics"]["val_accuracy"] = math.nan  # an empty split: NaN is a valid "not computed"
    write_json(tmp_path / "result.json", data)
    result, reason = read_result_checked(tmp_path / "result.json")
    assert reason is None and result is not None
    assert math.isnan(result["metrics"]["val_accuracy"])


def test_failed_and_running_results_are_valid() -> None:
    failed = json.loads((FIXTURE / "adversarial" / "seed-1" / "result.json").read_text())
    assert failed["status"] == "failed" and validate_result(failed) is None
    running = valid() | {"status": "running", "metrics": {}, "pillars": {}}
    assert validate_result(running) is None


def test_an_audit_result_without_config_hash_is_valid() -> None:
    audit = {k: v for k, v in valid().items() if k != "config_hash"}
    assert validate_result(audit) is None


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_a_corrupted_result_is_rejected_with_its_reason(name: str, tmp_path: Path) -> None:
    edit, expected = CORRUPTIONS[name]
    data = edit(copy.deepcopy(valid()))
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    result, reason = read_result_checked(path)
    assert result is None and reason is not None
    assert expected in reason
    assert "\n" not in reason
    assert read_result(path) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"schema_version": 1, "trial": {', "not valid JSON"),  # truncated
        ("", "not valid JSON"),
        ("1" * 5000, "not valid JSON"),  # beyond Python's int string limit
        ("[" * 100_000, "not valid JSON"),  # nested past the recursion limit
        ("null", "expected a JSON object, got null"),
    ],
)
def test_unparseable_text_is_rejected(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(text)
    result, reason = read_result_checked(path)
    assert result is None and reason is not None and expected in reason


def test_undecodable_bytes_and_a_folder_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a" / "result.json"
    path.parent.mkdir()
    path.write_bytes(b"\xff\xfe{")
    assert read_result_checked(path)[1] is not None
    (tmp_path / "b" / "result.json").mkdir(parents=True)
    assert read_result_checked(tmp_path / "b" / "result.json")[1] is not None


def test_a_missing_file_is_neither_a_result_nor_a_problem(tmp_path: Path) -> None:
    assert read_result_checked(tmp_path / "result.json") == (None, None)


def test_read_results_keeps_the_valid_and_names_the_rest(tmp_path: Path) -> None:
    good, bad = tmp_path / "trials" / "a" / "result.json", tmp_path / "trials" / "b" / "result.json"
    write_json(good, valid())
    write_json(bad, valid() | {"metrics": {}})
    results, invalid = read_results_checked(tmp_path)
    assert [r["trial"]["key"] for r in results] == ["baseline/seed-0"]
    assert invalid == [(bad, "metrics.test_accuracy is missing from a finished trial")]
    assert read_results(tmp_path) == results
