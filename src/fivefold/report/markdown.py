"""``summary.md``: the scorecard, pillar scores and failures as Markdown.

The text depends on the result files only (no timestamps, no absolute paths), so the same
results always give the same bytes.
"""

from __future__ import annotations

from fivefold.report.load import RunData
from fivefold.report.scores import PILLAR_ORDER
from fivefold.report.tables import (
    SIGNIFICANCE_METHOD,
    Cell,
    adaptation_rows,
    continual_rows,
    few_shot_rows,
    headline_columns,
    member_rows,
    pareto_pairs,
    run_facts,
    scorecard_cells,
    warning_lines,
)
from fivefold.results.stats import ALPHA

__all__ = ["render_markdown"]


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell (pipes, newlines, HTML and emphasis escaped)."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for char in "<>*_`[]":
        out = out.replace(char, f"\\{char}")
    return out


def _cell(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    ci = f" ± {cell.ci95:.4f}" if cell.ci95 is not None else ""
    text = f"**{cell.mean:.4f}{ci}**" if cell.best else f"{cell.mean:.4f}{ci}"
    if cell.difference is None:
        return text
    mark = "\\*" if cell.significant else ("n.s." if cell.p_value is not None else "")
    return f"{text} (Δ {cell.difference:+.4f}, {_md(cell.p_text)}{' ' + mark if mark else ''})"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _scorecard(run: RunData) -> list[str]:
    columns = headline_columns(run)
    cells = scorecard_cells(run, columns)
    recipes = run.scorecard["recipes"]
    lines = [_row(["recipe", "seeds ok", *(_md(c) for c in columns)])]
    lines.append(_row(["---", "---:", *("---:" for _ in columns)]))
    for recipe, by_column in cells.items():
        e = recipes[recipe]
        ok = f"{e['n_ok']}/{e['n_ok'] + e['n_failed']}"
        lines.append(_row([_md(recipe), ok, *(_cell(by_column[c]) for c in columns)]))
    return lines


def _scores(run: RunData) -> list[str]:
    lines = [_row(["recipe", *PILLAR_ORDER]), _row(["---", *("---:" for _ in PILLAR_ORDER)])]
    for recipe in run.recipes:
        scores = run.scores(recipe)
        cells = []
        for p in PILLAR_ORDER:
            s = scores[p]
            ci = "" if s is None or s[1] is None else f" ± {s[1]:.1f}"
            cells.append("not evaluated" if s is None else f"{s[0]:.1f}{ci}")
        lines.append(_row([_md(recipe), *cells]))
    return lines


def _pareto(run: RunData) -> list[str]:
    return [
        f"- {_md(v['y'])} vs {_md(v['x'])}: Pareto front = {', '.join(_md(n) for n in v['front'])}"
        for v in pareto_pairs(run)
    ]


def _members(run: RunData) -> list[str]:
    head, rows, notes = member_rows(run)
    if not rows:
        return []
    lines = [
        "## Ensemble members",
        "",
        "Mean ± std over seeds; gains: mean member − ensemble; best member: on the test split.",
        "",
    ]
    lines += [_row([_md(h) for h in head]), _row(["---"] * 3 + ["---:"] * (len(head) - 3))]
    lines += [_row([_md(v) for v in r]) for r in rows]
    lines += [f"- {_md(n)}" for n in notes]
    return [*lines, ""]


def _adaptive(run: RunData) -> list[str]:
    lines: list[str] = []
    head, rows, matrices = continual_rows(run)
    if rows:
        lines += ["### Continual learning", "", "Mean ± std over seeds.", ""]
        lines += [_row([_md(h) for h in head]), _row(["---"] * 3 + ["---:"] * (len(head) - 3))]
        lines += [_row([_md(v) for v in r]) for r in rows]
        lines += ["", *(f"- {_md(m)}" for m in matrices), ""]
    head, rows, notes = few_shot_rows(run)
    if rows:
        lines += [
            "### Few-shot on held-out classes",
            "",
            "Mean over seeds ± 95 % interval over episodes.",
            "",
        ]
        lines += [_row([_md(h) for h in head]), _row(["---"] * 2 + ["---:"] * 3)]
        lines += [_row([_md(v) for v in r]) for r in rows]
        lines += ["", *(f"- {_md(n)}" for n in notes), ""]
    head, rows = adaptation_rows(run)
    if rows:
        lines += ["### Test-time adaptation", "", "The same model without and with adaptation.", ""]
        lines += [_row([_md(h) for h in head]), _row(["---"] * 2 + ["---:"] * 3)]
        lines += [_row([_md(v) for v in r]) for r in rows]
        lines.append("")
    return ["## Adaptive learning", "", *lines] if lines else []


def _failed(run: RunData) -> list[str]:
    failed = run.failed()
    if not failed:
        return ["None."]
    lines = [_row(["trial", "error", "message"]), _row(["---", "---", "---"])]
    for r in failed:
        err = r.get("error") or {}
        lines.append(
            _row([_md(r["trial"]["key"]), _md(err.get("type", "")), _md(err.get("message", ""))])
        )
    return lines


def render_markdown(run: RunData) -> str:
    """The whole ``summary.md`` text."""
    base = run.scorecard.get("baseline") or "none"
    lines = [f"# fivefold · {_md(run.experiment)}", ""]
    lines += [f"- **{k}**: {_md(v)}" for k, v in run_facts(run, timestamps=False)]
    lines += ["", "## Scorecard", ""]
    lines += [
        f"Mean ± 95 % confidence half-width over seeds (Student t); best per column in bold. "
        f"Δ: difference from the baseline `{base}`, tested with {SIGNIFICANCE_METHOD}; "
        f"\\* p < {ALPHA}, n.s. not significant.",
        "",
    ]
    warnings = warning_lines(run)
    if warnings:
        lines += ["**Warnings** (these numbers may mislead):", ""]
        lines += [f"- ⚠ {_md(w)}" for w in warnings]
        lines.append("")
    lines += _scorecard(run)
    lines += ["", "## Pillar scores (0–100)", "", *_scores(run)]
    lines += ["", "See docs/scores.md for how raw metrics become scores.", ""]
    lines += _members(run)
    lines += _adaptive(run)
    lines += ["## Pareto fronts", "", *_pareto(run), "", "## Failed trials", "", *_failed(run)]
    return "\n".join(lines) + "\n"
