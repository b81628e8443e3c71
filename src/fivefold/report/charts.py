"""Per-pillar charts of the report, built from the tables each pillar saved in ``result.json``.

Curves are averaged over the seeds of a recipe (one line per recipe); per-sample views
(attribution examples, reliability diagrams) show the first seed. Every function returns HTML
text (inline SVG, escaped) or "" when its data are absent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

from fivefold.report.load import RunData
from fivefold.report.svg import Series, bar_chart, colour, esc, line_chart

__all__ = ["mean_curve", "pillar_charts"]

Row = dict[str, Any]


def _rows(result: dict[str, Any], pillar: str, table: str) -> list[Row]:
    rows: list[Row] = result.get("pillars", {}).get(pillar, {}).get("tables", {}).get(table, [])
    return rows


def mean_curve(
    results: list[dict[str, Any]],
    pillar: str,
    table: str,
    x: str,
    y: str,
    keep: Callable[[Row], bool] = lambda r: True,
) -> list[tuple[float, float]]:
    """(x, mean y over seeds) of one table's rows, sorted by x; rows with a null x or y and
    rows rejected by ``keep`` are skipped."""
    by_x: dict[float, list[float]] = {}
    for result in results:
        for row in _rows(result, pillar, table):
            if keep(row) and row.get(x) is not None and row.get(y) is not None:
                by_x.setdefault(float(row[x]), []).append(float(row[y]))
    return sorted((k, statistics.fmean(v)) for k, v in by_x.items())


def _per_recipe(
    run: RunData, pillar: str, table: str, x: str, y: str, keep: Callable[[Row], bool]
) -> list[Series]:
    out = []
    for i, recipe in enumerate(run.recipes):
        points = mean_curve(run.full(recipe), pillar, table, x, y, keep)
        if points:
            out.append(Series(recipe, points, colour(i)))
    return out


def _figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>" if svg else ""


def _learning_curves(run: RunData) -> str:
    series = _per_recipe(
        run, "data_efficiency", "learning_curve", "fraction", "test_accuracy", lambda r: True
    )
    if not series:
        return ""
    svg = line_chart(
        series,
        kind="learning-curve",
        title="Learning curve",
        x_label="label fraction (log scale)",
        y_label="test accuracy",
        log_x=True,
    )
    return _figure(svg, "Test accuracy per share of training labels, mean over seeds.")


def _shift_curves(run: RunData) -> str:
    kinds = dict.fromkeys(
        row["kind"]
        for r in run.full()
        for row in _rows(r, "generalization", "shifts")
        if row.get("strength") is not None
    )
    figures = []
    for kind in kinds:
        series = _per_recipe(
            run,
            "generalization",
            "shifts",
            "strength",
            "accuracy",
            _where("kind", kind),
        )
        svg = line_chart(
            series,
            kind="shift-curve",
            title=f"Accuracy under shift: {kind}",
            x_label="shift strength",
            y_label="accuracy",
        )
        figures.append(_figure(svg))
    return "".join(figures)


def _corruption_curves(run: RunData) -> str:
    names = dict.fromkeys(
        row["corruption"] for r in run.full() for row in _rows(r, "robustness", "corruptions")
    )
    figures = []
    for name in names:
        series = _per_recipe(
            run,
            "robustness",
            "corruptions",
            "severity",
            "accuracy",
            _where("corruption", name),
        )
        svg = line_chart(
            series,
            kind="corruption-curve",
            title=f"Corruption: {name}",
            x_label="severity",
            y_label="accuracy",
            y_range=(0.0, 1.0),
        )
        figures.append(_figure(svg))
    return "".join(figures)


def _attack_curves(run: RunData) -> str:
    figures = []
    for norm, label in (("linf", "L∞"), ("l2", "L2")):
        series = _per_recipe(
            run,
            "robustness",
            "adversarial",
            "eps",
            "worst_case",
            _where("norm", norm),
        )
        if not series:
            continue
        svg = line_chart(
            series,
            kind="attack-curve",
            title=f"Worst-case attack accuracy ({label})",
            x_label=f"eps ({label})",
            y_label="accuracy",
            y_range=(0.0, 1.0),
        )
        figures.append(_figure(svg, "Per sample, the worst of FGSM, PGD and APGD-CE/DLR."))
    text = _per_recipe(run, "robustness", "text_attack", "edits", "accuracy", lambda r: True)
    if text:
        svg = line_chart(
            text,
            kind="attack-curve",
            title="Greedy text edit attack",
            x_label="edits",
            y_label="accuracy",
            y_range=(0.0, 1.0),
        )
        figures.append(_figure(svg))
    return "".join(figures)


def _reliability(run: RunData) -> str:
    figures = []
    for i, recipe in enumerate(run.recipes):
        trials = run.full(recipe)[:1]
        points = mean_curve(trials, "safety", "reliability", "confidence", "accuracy")
        if not points:
            continue
        diagonal = Series("perfect calibration", [(0.0, 0.0), (1.0, 1.0)], "#888888", True)
        svg = line_chart(
            [Series(recipe, points, colour(i)), diagonal],
            kind="reliability",
            title=f"Reliability: {recipe}",
            x_label="confidence",
            y_label="accuracy",
            y_range=(0.0, 1.0),
        )
        figures.append(_figure(svg, f"Seed {trials[0]['trial']['seed']}; one point per bin."))
    return "".join(figures)


def _risk_coverage(run: RunData) -> str:
    series = _per_recipe(run, "safety", "risk_coverage", "coverage", "risk", lambda r: True)
    if not series:
        return ""
    svg = line_chart(
        series,
        kind="risk-coverage",
        title="Risk–coverage",
        x_label="coverage",
        y_label="selective risk (error)",
    )
    return _figure(svg, "Error of the most confident share of test samples, mean over seeds.")


def _group_means(trials: list[dict[str, Any]], metric: str, groups: list[str]) -> list[float]:
    """Mean of ``metric`` per group over ``trials`` (NaN where a group lacks it)."""
    out = []
    for g in groups:
        found = [
            float(row[metric])
            for r in trials
            for row in _rows(r, "safety", "groups")
            if row["group"] == g and row.get(metric) is not None
        ]
        out.append(statistics.fmean(found) if found else math.nan)
    return out


def _fairness(run: RunData) -> str:
    rows = [row for r in run.full() for row in _rows(r, "safety", "groups")]
    groups = [str(g) for g in dict.fromkeys(row["group"] for row in rows)]
    figures = []
    for metric in ("accuracy", "selection_rate", "ece"):
        if not any(row.get(metric) is not None for row in rows):
            continue
        series = []
        for i, recipe in enumerate(run.recipes):
            means = _group_means(run.full(recipe), metric, groups)
            if any(math.isfinite(m) for m in means):
                series.append(Series(recipe, list(enumerate(means)), colour(i)))
        svg = bar_chart(groups, series, kind="fairness",
                        title=f"Per-group {metric.replace('_', ' ')}", y_label=metric)  # fmt: skip
        figures.append(_figure(svg))
    return "".join(figures)


def _where(field: str, value: object) -> Callable[[Row], bool]:
    """A row filter: ``row[field] == value``."""
    return lambda row: row.get(field) == value


def pillar_charts(run: RunData) -> dict[str, str]:
    """Pillar name → the HTML of its charts (pillars without charts are left out)."""
    from fivefold.report.attributions import attribution_examples

    parts = {
        "generalization": _shift_curves(run),
        "data_efficiency": _learning_curves(run),
        "robustness": _corruption_curves(run) + _attack_curves(run),
        "interpretability": attribution_examples(run),
        "safety": _reliability(run) + _risk_coverage(run) + _fairness(run),
    }
    return {k: v for k, v in parts.items() if v}


def stream_chart(run: RunData) -> str:
    """Prequential accuracy along the stream of every recipe that learns one (its first
    seed), the true drift positions as dashed lines; empty when no recipe does."""
    series: list[Series] = []
    drifts: list[int] = []
    window = 0
    for i, recipe in enumerate(run.recipes):
        reports = [
            r["techniques"]["continual"]
            for r in run.full(recipe)
            if isinstance(r.get("techniques", {}).get("continual", {}).get("curve"), dict)
        ]
        if not reports:
            continue
        curve = reports[0]["curve"]
        points = [
            (float(x), float(y)) for x, y in zip(curve["index"], curve["accuracy"], strict=True)
        ]
        series.append(Series(recipe, points, colour(i)))
        found = [float(d) for d in reports[0].get("detections", [])]
        if found:
            lowest = min(y for _, y in points)
            marks = [(d, max(0.0, lowest - 0.01)) for d in found]
            series.append(Series(f"{recipe}: detections", marks, colour(i), line=False))
        drifts = drifts or [int(p) for p in reports[0].get("drift_positions", [])]
        window = int(curve.get("window", 0))
    if not series:
        return ""
    lows = [y for s in series for _, y in s.points]  # detection marks sit below the curves
    lo, hi = max(0.0, min(lows) - 0.02), 1.0
    for p in drifts:
        series.append(Series(f"drift at {p}", [(float(p), lo), (float(p), hi)], "#999", True))
    svg = line_chart(
        series,
        kind="prequential",
        title="Prequential accuracy along the stream",
        x_label="row of the stream",
        y_label=f"accuracy (last {window} rows)",
        y_range=(lo, hi),
    )
    return _figure(
        svg,
        f"Test-then-train accuracy over a sliding window of {window} rows (first seed); "
        "dashed: the true drift positions; markers under a curve: where its detector fired.",
    )
