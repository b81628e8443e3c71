"""What the report's tables hold, independent of HTML or Markdown: the run's facts, the
scorecard's headline columns and cells, and the Pareto front of two metrics."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fivefold.report.load import RunData
from fivefold.results.stats import MIN_SEEDS

__all__ = [
    "MEMBER_COLUMNS",
    "SIGNIFICANCE_METHOD",
    "Cell",
    "headline_columns",
    "member_rows",
    "pareto_front",
    "pareto_pairs",
    "run_facts",
    "scorecard_cells",
    "warning_lines",
]


def run_facts(run: RunData, *, timestamps: bool) -> list[tuple[str, str]]:
    """(label, value) rows of the header: experiment, data, model, seeds, environment, git
    revision and run time (start and end only when ``timestamps``)."""
    first = run.results[0]
    cfg, env = first.get("config", {}), first.get("environment", {})
    model = cfg.get("model")  # a table for runs, the factory's name for audits
    if not isinstance(model, str):
        model = (model or {}).get("name") or first.get("model", {}).get("name", "default")
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
    classes = (first.get("task") or first.get("evaluation") or {}).get("classes")
    if classes:
        rows.insert(2, ("classes (id order)", ", ".join(f"{i} {c}" for i, c in enumerate(classes))))
    evaluation = first.get("evaluation") or {}
    if evaluation.get("rows"):
        rows.insert(2, ("scored rows", str(evaluation["rows"])))
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
    reason: str | None = None
    """Why the difference has no p-value (e.g. too few seeds)."""

    @property
    def p_text(self) -> str:
        """ "p = …", or why there is none."""
        if self.p_value is not None:
            return f"p = {self.p_value:.3g}"
        return self.reason or "p n/a"


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
                vs.get("reason"),
            )
    return out


SIGNIFICANCE_METHOD = (
    "a seed × example t-test for accuracy and NLL (seeds and test rows as crossed random "
    "effects, Satterthwaite degrees of freedom: it counts the test set's own sampling noise "
    "as well as the seeds'), a paired t-test over seeds for other metrics (Welch's when the "
    f"seeds differ), and no claim from fewer than {MIN_SEEDS} seeds"
)
"""How the scorecard's Δ is tested, in words (the report's legend; docs/scores.md)."""


def warning_lines(run: RunData) -> list[str]:
    """Every warning of the run: the plan's, then each recipe's (seeds grouped)."""
    lines = list(run.scorecard.get("warnings", []))
    for recipe, entry in run.scorecard["recipes"].items():
        lines += [f"{recipe}, {w}" for w in entry.get("warnings", [])]
    return lines


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


MEMBER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ensemble_accuracy", "ensemble acc."),
    ("mean_member_accuracy", "mean member acc."),
    ("best_member_accuracy", "best member acc."),
    ("nll_gain", "NLL gain"),
    ("ece_gain", "ECE gain"),
    ("disagreement", "disagreement"),
    ("mutual_information", "mutual information"),
)
"""(key of ``result["members"]``, column title) of the members table; gains are the mean
member's value minus the ensemble's (positive: the ensemble is better)."""


def _mean_std(values: Sequence[float], digits: int = 4) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def member_rows(run: RunData) -> tuple[list[str], list[list[str]], list[str]]:
    """The members table of recipes that evaluate several members (ensembles): header, rows
    (recipe, members, combiner, parameters per member, each of :data:`MEMBER_COLUMNS` as mean ±
    std over seeds, training seconds) and the caveats to print under it (an ensemble worse than
    its mean member, a vote's probabilities). Empty when no recipe has members."""
    head = ["recipe", "members", "combiner", "params / member"]
    head += [title for _, title in MEMBER_COLUMNS] + ["train s"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for recipe in run.recipes:
        found = [r for r in run.full(recipe) if isinstance(r.get("members"), dict)]
        if not found:
            continue
        first = found[0]["members"]
        params = found[0].get("model", {}).get("params_per_member") or []
        per_member = sorted(set(params))
        row = [
            recipe,
            str(first.get("members", "?")),
            str(first.get("combiner", "?")),
            "/".join(f"{p:,}" for p in per_member) if per_member else "?",
        ]
        for key, _ in MEMBER_COLUMNS:
            values = [float(r["members"][key]) for r in found if _finite(r["members"].get(key))]
            row.append(_mean_std(values))
        train = [float(r["timings"]["train_s"]) for r in found if "train_s" in r.get("timings", {})]
        row.append(_mean_std(train, 1))
        rows.append(row)
        nll = [
            float(r["members"]["nll_gain"]) for r in found if _finite(r["members"].get("nll_gain"))
        ]
        if nll and statistics.fmean(nll) < 0:
            notes.append(
                f"{recipe}: the ensemble's NLL is worse than its mean member's "
                f"(gain {statistics.fmean(nll):+.4f})"
                + (
                    ": a vote's probabilities are a convention of the rule, compare it by accuracy"
                    if first.get("combiner") == "vote"
                    else ""
                )
            )
    return (head, rows, notes) if rows else ([], [], [])


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


ADAPTIVE_SCORES: tuple[tuple[str, str], ...] = (
    ("average_accuracy", "average acc."),
    ("forgetting", "forgetting"),
    ("backward_transfer", "BWT"),
    ("learning_accuracy", "acc. just learnt"),
    ("prequential_accuracy", "prequential acc."),
    ("mean_drift_drop", "drop at drift"),
    ("mean_recovery_samples", "recovery (rows)"),
    ("drifts_detected", "drifts detected"),
    ("false_alarms", "false alarms"),
    ("mean_detection_delay", "detection delay"),
)
"""(key of ``techniques.continual.scores``, column title) of the continual-learning table."""


def accuracy_matrices(run: RunData) -> dict[str, list[list[float]]]:
    """Per recipe with ``continual`` experiences, the mean accuracy matrix over seeds
    (``R[i][j]``: accuracy on experience j's test rows after training on experience i)."""
    out: dict[str, list[list[float]]] = {}
    for recipe in run.recipes:
        grids = [
            r["techniques"]["continual"]["accuracy_matrix"]
            for r in run.full(recipe)
            if _continual(r) and r["techniques"]["continual"].get("accuracy_matrix")
        ]
        if grids and all(len(g) == len(grids[0]) for g in grids):
            size = len(grids[0])
            out[recipe] = [
                [statistics.fmean(float(g[i][j]) for g in grids) for j in range(size)]
                for i in range(size)
            ]
    return out


def few_shot_rows(run: RunData) -> tuple[list[str], list[list[str]], list[str]]:
    """The few-shot table of recipes with ``meta``: per recipe and evaluated setting, the
    meta-learner's, the from-scratch and the linear-probe accuracy (mean over seeds of the
    mean over episodes, ± the mean 95 % half-width over episodes), and one line per recipe
    naming the held-out classes. Empty when no recipe meta-learns."""
    head = ["recipe", "setting", "meta-learner", "from scratch", "pretrained probe"]
    rows: list[list[str]] = []
    notes: list[str] = []
    for recipe in run.recipes:
        reports = [
            r["techniques"]["meta"]
            for r in run.full(recipe)
            if isinstance(r.get("techniques", {}).get("meta", {}).get("few_shot"), dict)
        ]
        if not reports:
            continue
        method = str(reports[0].get("method", "?"))
        for setting in reports[0]["few_shot"]:
            row = [recipe, setting.replace("_", " ")]
            for name in (method, "scratch", "pretrained_probe"):
                cells = [
                    rep["few_shot"][setting][name] for rep in reports if setting in rep["few_shot"]
                ]
                mean = statistics.fmean(float(c["mean"]) for c in cells)
                half = [float(c["ci95"]) for c in cells if _finite(c.get("ci95"))]
                row.append(f"{mean:.4f} ± {statistics.fmean(half):.4f}" if half else f"{mean:.4f}")
            rows.append(row)
        held = ", ".join(str(c) for c in reports[0].get("meta_test_classes", []))
        notes.append(f"{recipe} ({method}): held-out classes {held}")
    return head, rows, notes


def continual_rows(run: RunData) -> tuple[list[str], list[list[str]], list[str]]:
    """The continual-learning table: one row per recipe with ``continual`` (scenario,
    strategy, each score of :data:`ADAPTIVE_SCORES` the recipe has, mean ± std over seeds),
    and one line per recipe with its mean accuracy matrix (rows: after experience i, columns:
    test rows of experience j). Empty when no recipe learns continually."""
    found = {
        recipe: [r["techniques"]["continual"] for r in run.full(recipe) if _continual(r)]
        for recipe in run.recipes
    }
    found = {k: v for k, v in found.items() if v}
    if not found:
        return [], [], []
    present = [
        (key, title)
        for key, title in ADAPTIVE_SCORES
        if any(key in rep.get("scores", {}) for reps in found.values() for rep in reps)
    ]
    head = ["recipe", "scenario", "strategy", *(title for _, title in present)]
    rows: list[list[str]] = []
    matrices: list[str] = []
    for recipe, reports in found.items():
        first = reports[0]
        detector = first.get("detector", "none")
        strategy = str(first.get("strategy", "?"))
        if first.get("scenario") == "stream" and detector != "none":
            strategy += f" + {detector} → {first.get('on_drift', '?')}"
        row = [recipe, str(first.get("scenario", "?")), strategy]
        for key, _ in present:
            values = [float(r["scores"][key]) for r in reports if _finite(r["scores"].get(key))]
            row.append(_mean_std(values, 1 if "samples" in key or "delay" in key else 4))
        rows.append(row)
        grids = [r["accuracy_matrix"] for r in reports if r.get("accuracy_matrix")]
        if grids:
            size = len(grids[0])
            mean = [
                [statistics.fmean(float(g[i][j]) for g in grids) for j in range(size)]
                for i in range(size)
            ]
            text = " / ".join(" ".join(f"{v:.2f}" for v in line) for line in mean)
            matrices.append(f"{recipe}: accuracy matrix R[i, j] (mean over seeds) {text}")
    return head, rows, matrices


def _continual(result: dict[str, Any]) -> bool:
    report = result.get("techniques", {}).get("continual")
    return isinstance(report, dict) and isinstance(report.get("scores"), dict)


def adaptation_rows(run: RunData) -> tuple[list[str], list[list[str]]]:
    """Test-time adaptation before and after: one row per recipe whose pillars report
    ``*_unadapted`` metrics (mean ± std over seeds); empty when none does."""
    pairs = (
        ("generalization", "test_accuracy", "test"),
        ("generalization", "shift_accuracy_mean", "shift mean"),
        ("robustness", "mean_corruption_accuracy", "corruption mean"),
    )
    head = ["recipe", "split"]
    head += ["unadapted", "adapted", "gain"]
    rows: list[list[str]] = []
    for recipe in run.recipes:
        results = run.full(recipe)
        for pillar, metric, label in pairs:
            before, after = [], []
            for r in results:
                metrics = r.get("pillars", {}).get(pillar, {}).get("metrics", {})
                if f"{metric}_unadapted" in metrics and metric in metrics:
                    before.append(float(metrics[f"{metric}_unadapted"]["value"]))
                    after.append(float(metrics[metric]["value"]))
            if before:
                gain = [a - b for a, b in zip(after, before, strict=True)]
                rows.append([recipe, label, _mean_std(before), _mean_std(after), _mean_std(gain)])
    return head, rows
