"""The report's members table: one row per recipe that evaluates several members."""

from __future__ import annotations

import statistics
from typing import Any

from fivefold.report import html, markdown
from fivefold.report.load import RunData
from fivefold.report.tables import MEMBER_COLUMNS, member_rows


def _result(recipe: str, seed: int, members: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trial": {"recipe": recipe, "seed": seed, "fraction": 1.0, "key": f"{recipe}/seed-{seed}"},
        "status": "ok",
        "timings": {"train_s": 2.0 + seed},
        "model": {"name": "mlp", "params_per_member": [10, 10, 10]},
    }
    if members is not None:
        out["members"] = members
    return out


def _members(seed: int, combiner: str, nll_gain: float) -> dict[str, Any]:
    values = {key: 0.1 * (i + 1) + 0.01 * seed for i, (key, _) in enumerate(MEMBER_COLUMNS)}
    return {**values, "members": 3, "combiner": combiner, "nll_gain": nll_gain + 0.01 * seed}


def _run() -> RunData:
    results = [
        _result("single", 0, None),
        _result("single", 1, None),
        _result("deep<b>", 0, _members(0, "mean", 0.02)),
        _result("deep<b>", 1, _members(1, "mean", 0.02)),
        _result("vote", 0, _members(0, "vote", -1.5)),
    ]
    return RunData("members", results, {}, {})


def test_rows_are_the_recipes_with_members_as_mean_and_std_over_seeds() -> None:
    head, rows, notes = member_rows(_run())
    assert [r[0] for r in rows] == ["deep<b>", "vote"]
    deep = dict(zip(head, rows[0], strict=True))
    assert deep["members"] == "3" and deep["combiner"] == "mean" and deep["params / member"] == "10"
    accs = [0.1, 0.11]
    assert deep["ensemble acc."] == f"{statistics.fmean(accs):.4f} ± {statistics.stdev(accs):.4f}"
    assert deep["train s"] == f"{2.5:.1f} ± {statistics.stdev([2.0, 3.0]):.1f}"
    vote = dict(zip(head, rows[1], strict=True))
    assert vote["NLL gain"] == "-1.5000"  # one seed: no spread shown
    assert len(notes) == 1 and notes[0].startswith("vote: the ensemble's NLL is worse")
    assert "compare it by accuracy" in notes[0]


def test_no_members_no_table_and_the_html_escapes_names() -> None:
    assert member_rows(RunData("x", [_result("single", 0, None)], {}, {})) == ([], [], [])
    page = html._members(_run())
    assert "<h2>Ensemble members</h2>" in page and "deep&lt;b&gt;" in page and "deep<b>" not in page
    text = "\n".join(markdown._members(_run()))
    assert "## Ensemble members" in text and "| vote | 3 | vote |" in text
