"""What the report's tables hold, independent of HTML or Markdown: the run's facts, the
scorecard's headline columns and cells, and the Pareto front of two metrics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fivefold.report.load import RunData

__all__ = [
    "Cell",
    "headline_columns",
    "pareto_front",
    "pareto_pairs",
    "run_facts",
    "scorecard_cells",
]


def run_facts(run: RunData, *, timestamps: bool) -> list[tuple[str, str]]:
    """(label, value) rows of the header: experiment, data, model, seeds, environment, git
    revision and run time (start and end only when ``timestamps``)."""
    first = run.results[0]
    cfg, env = first.get("config", {}), first.get("environment", {})
    model = (cfg.get("model") or {}).get("name") or first.get("model", {}).get("name", "default")
    seeds = sorted({r["trial"]["seed"] for r in run.results})
    commit = env.get("git_commit") or "unknown"
    dirty = {True: " (uncommitted changes)", False: " (clean)"}.get(env.get("git_dirty"), "")
    total = sum(float(r.get("timings", {}).get("total_s", 0.0)) for r in run.results)
    rows = [
        ("experiment", run.experiment),
        ("data", str(cfg.get("data", {}).get("dataset", "?"))),
        ("model", str(model)),
        ("seeds", ", ".join(map(str, seeds))),
        ("trials", f"{len(run.results)} ({len(run.failed())} failed){_left_out(run)}"),
        ("environment", _environment(env)),
        ("git commit", f"{commit}{dirty}"),
        ("trial time (sum)", f"{total:.1f} s"),
    ]
    if timestamps:
        starts = [r["started_at"] for r in run.results if r.get("started_at")]
        ends = [r["finished_at"] for r in run.results if r.get("finished_at")]
        if starts and ends:
            rows.append(("run time", f"{min(starts)} → {max(ends)}"))
    return rows


def _left_out(run: RunData) -> str:
    n = len(run.left_out)
    return f"; {n} unusable result file(s) left out" if n else ""


def _environment(env: dict[str, Any]) -> str:
    keys = ("fivefold", "python", "torch", "numpy")
    parts = [f"{k} {env[k]}" for k in keys if env.get(k)]
    if env.get("platform"):
        parts.append(str(env["platform"]))
    if env.get("cpu_count"):
        parts.append(f"{env['cpu_count']} CPUs, {env.get('torch_threads', '?')} torch threads")
    return " · ".join(parts)


def headline_columns(run: RunData) -> list[str]:
    """Scorecard metric names: each pillar's headline, led by test accuracy."""
    columns = [] if "generalization" in run.pillars() else ["test_accuracy"]
    for pillar in run.pillars():
        heads = {r["pillars"][pillar]["headline"] for r in run.full() if pillar in r["pillars"]}
        columns += sorted(f"{pillar}.{h}" for h in heads)
    return columns


@dataclass(frozen=True)
class Cell:
    """One scorecard cell: the metric of one recipe, summarised over seeds."""

    mean: float
    ci95: float | None
    n: int
    higher_is_better: bool
    best: bool
    difference: float | None = None
    p_value: float | None = None
    test: str = ""
    significant: bool = False


def scorecard_cells(run: RunData, columns: Sequence[str]) -> dict[str, dict[str, Cell | None]]:
    """Recipe → column → cell (None when the recipe lacks the metric). The best mean of each
    column (by the metric's direction) is marked when two or more recipes have it."""
    recipes = run.scorecard["recipes"]
    out: dict[str, dict[str, Cell | None]] = {r: {} for r in run.recipes if r in recipes}
    for column in columns:
        found = {r: recipes[r]["metrics"][column] for r in out if column in recipes[r]["metrics"]}
        sign = {r: 1 if m["higher_is_better"] else -1 for r, m in found.items()}
        best = max((sign[r] * m["mean"] for r, m in found.items()), default=math.nan)
        for recipe, row in out.items():
            m = found.get(recipe)
            if m is None:
                row[column] = None
                continue
            vs = m.get("vs_baseline") or {}
            row[column] = Cell(
                m["mean"],
                m.get("ci95"),
                m["n"],
                m["higher_is_better"],
                len(found) > 1 and sign[recipe] * m["mean"] == best,
                vs.get("difference"),
                vs.get("p_value"),
                vs.get("test", ""),
                bool(vs.get("significant")),
            )
    return out


def pareto_front(
    points: Sequence[tuple[str, float, float]], higher: tuple[bool, bool]
) -> list[str]:
    """Names of the points that no other point dominates (at least as good on both metrics
    and better on one), given whether higher is better on x and on y."""
    sx, sy = (1 if higher[0] else -1), (1 if higher[1] else -1)
    front = []
    for name, x, y in points:
        dominated = any(
            sx * ox >= sx * x and sy * oy >= sy * y and (sx * ox > sx * x or sy * oy > sy * y)
            for _, ox, oy in points
        )
        if not dominated:
            front.append(name)
    return front


def _mean_metric(run: RunData, recipe: str, name: str) -> float | None:
    m = run.scorecard["recipes"].get(recipe, {}).get("metrics", {}).get(name)
    return float(m["mean"]) if m else None


def _train_seconds(run: RunData, recipe: str) -> float | None:
    values = [float(r["timings"]["train_s"]) for r in run.full(recipe) if "train_s" in r["timings"]]
    return statistics.fmean(values) if values else None


def pareto_pairs(run: RunData) -> list[dict[str, Any]]:
    """The Pareto views: test accuracy vs the robustness headline (when evaluated) and
    training time vs test accuracy. Each: title, labels, directions, points, front."""
    views = []
    robust = next((c for c in headline_columns(run) if c.startswith("robustness.")), None)
    pairs: list[tuple[str, str, Any, Any, tuple[bool, bool]]] = []
    if robust:
        pairs.append(
            (
                "test accuracy",
                robust,
                lambda r: _mean_metric(run, r, "test_accuracy"),
                lambda r: _mean_metric(run, r, robust),
                (True, True),
            )
        )
    pairs.append(
        (
            "training time (s)",
            "test accuracy",
            lambda r: _train_seconds(run, r),
            lambda r: _mean_metric(run, r, "test_accuracy"),
            (False, True),
        )
    )
    for x_label, y_label, fx, fy, higher in pairs:
        points = [(r, fx(r), fy(r)) for r in run.recipes]
        points = [(r, float(x), float(y)) for r, x, y in points if x is not None and y is not None]
        if points:
            views.append(
                {
                    "x": x_label,
                    "y": y_label,
                    "higher": higher,
                    "points": points,
                    "front": pareto_front(points, higher),
                }
            )
    return views
