"""Read a run folder for the report: trial results, epoch histories and the scorecard.

Only JSON files are read (``trials/**/result.json`` and ``history.jsonl``); nothing here
imports torch.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fivefold.errors import DataError
from fivefold.report.scores import PILLAR_ORDER, pillar_scores
from fivefold.results.files import read_results_checked
from fivefold.results.scorecard import baseline_recipe, build_scorecard
from fivefold.results.stats import t_interval

__all__ = ["RunData", "load_run", "run_data"]


@dataclass
class RunData:
    """Everything the report shows, derived from the result files of one run.

    Attributes:
        experiment: the experiment name.
        results: every trial result (label-fraction refits and failures included).
        scorecard: :func:`build_scorecard` of ``results``.
        histories: trial key → epoch records (empty when no ``history.jsonl`` was found).
        left_out: (path, reason) of every ``result.json`` that was unusable and is not in
            ``results`` (nor in ``scorecard``).
    """

    experiment: str
    results: list[dict[str, Any]]
    scorecard: dict[str, Any]
    histories: dict[str, list[dict[str, float]]]
    left_out: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def recipes(self) -> list[str]:
        """Recipe names in the order of the results."""
        return list(dict.fromkeys(r["trial"]["recipe"] for r in self.results))

    def full(self, recipe: str | None = None) -> list[dict[str, Any]]:
        """Finished full-data trials (of ``recipe`` when given), in seed order."""
        rows = [
            r
            for r in self.results
            if r["status"] == "ok"
            and r["trial"]["fraction"] >= 1.0
            and (recipe is None or r["trial"]["recipe"] == recipe)
        ]
        return sorted(rows, key=lambda r: r["trial"]["seed"])

    def failed(self) -> list[dict[str, Any]]:
        """Trials that did not finish, with their errors."""
        return [r for r in self.results if r["status"] != "ok"]

    def pillars(self) -> list[str]:
        """Pillars present in any finished trial, the five known ones first."""
        found = dict.fromkeys(p for r in self.full() for p in r.get("pillars", {}))
        return [p for p in PILLAR_ORDER if p in found] + [p for p in found if p not in PILLAR_ORDER]

    def scores(self, recipe: str) -> dict[str, tuple[float, float | None] | None]:
        """Pillar → (mean score over seeds, 95 % CI half-width), None when not evaluated."""
        per_seed = [pillar_scores(r) for r in self.full(recipe)]
        out: dict[str, tuple[float, float | None] | None] = {}
        for name in PILLAR_ORDER:
            values = [float(v) for s in per_seed if (v := s[name]) is not None]
            if not values:
                out[name] = None
                continue
            half = t_interval(values)
            out[name] = (statistics.fmean(values), None if math.isnan(half) else half)
        return out


def run_data(experiment: str, results: list[dict[str, Any]], histories: dict[str, Any]) -> RunData:
    """A :class:`RunData` from results already in memory."""
    return RunData(experiment, results, build_scorecard(experiment, results), histories)


def _history(path: Path) -> list[dict[str, float]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _history_path(run_dir: Path, result: dict[str, Any]) -> Path:
    """The epoch log of a trial; a key edited to point outside ``trials/`` reads nothing."""
    trials = (run_dir / "trials").resolve()
    path = (trials / str(result["trial"]["key"]) / "history.jsonl").resolve()
    return path if path.is_relative_to(trials) else trials / ".outside" / "history.jsonl"


def load_run(run_dir: Path) -> RunData:
    """Read every valid result under ``run_dir/trials``; unusable files go to ``left_out``.

    Raises:
        DataError: the folder has no valid result file.
    """
    results, left_out = read_results_checked(run_dir)
    if not results:
        raise DataError(_no_results(run_dir, left_out))
    histories = {r["trial"]["key"]: _history(_history_path(run_dir, r)) for r in results}
    base = baseline_recipe(results)

    def order(r: dict[str, Any]) -> tuple[bool, str, float, int]:
        t = r["trial"]
        return (t["recipe"] != base, t["recipe"], -t["fraction"], t["seed"])

    results.sort(key=order)
    run = run_data(str(results[0].get("experiment", run_dir.name)), results, histories)
    run.left_out = left_out
    return run


def _no_results(run_dir: Path, left_out: list[tuple[Path, str]]) -> str:
    if not left_out:
        return (
            f"{run_dir}: no trials/**/result.json found; give the output folder of a "
            "'fivefold run' (e.g. runs/<experiment>)"
        )
    path, reason = left_out[0]
    return (
        f"{run_dir}: none of its {len(left_out)} result file(s) is usable ({path}: {reason}); "
        "re-run 'fivefold run' on the experiment to recompute them"
    )
