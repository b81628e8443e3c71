"""``report.html``: one self-contained page (inline CSS, SVG and a few lines of JS; no network).

Every user-provided string goes through :func:`fivefold.report.svg.esc`.
"""

from __future__ import annotations

from typing import Any

from fivefold.report.charts import pillar_charts, stream_chart
from fivefold.report.load import RunData
from fivefold.report.scores import PILLAR_ORDER, SCORE_RULES
from fivefold.report.svg import colour, esc, fmt, radar_chart, scatter_chart
from fivefold.report.tables import (
    SIGNIFICANCE_METHOD,
    Cell,
    accuracy_matrices,
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

__all__ = ["render_html"]

_TITLES = {
    "generalization": "Generalization",
    "data_efficiency": "Data efficiency",
    "robustness": "Robustness",
    "interpretability": "Interpretability",
    "safety": "Ethics & safety",
}

_SHORT = {
    "generalization": "Generalization",
    "data_efficiency": "Data eff.",
    "robustness": "Robustness",
    "interpretability": "Interpret.",
    "safety": "Safety",
}

_CSS = """
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee6;--bg:#fff;--soft:#f5f7fa;--accent:#332288}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
sans-serif;color:var(--fg);background:var(--bg)}main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;padding-bottom:4px;
border-bottom:2px solid var(--line)}h3{font-size:16px;margin:20px 0 8px}h4{margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}th,td{padding:5px 9px;
border-bottom:1px solid var(--line);text-align:left;vertical-align:top}th{background:var(--soft)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:#e4f1ea;font-weight:600}.delta{display:block;font-size:11px;color:var(--muted);white-space:normal}
.ns{color:#a05a00}.sig{color:#117733}.muted{color:var(--muted)}
.charts,.examples{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;padding:6px;
border:1px solid var(--line);border-radius:6px;background:#fff}figcaption{font-size:11px;
color:var(--muted);max-width:380px}svg.chart text{font-size:10px;fill:var(--fg)}
svg.chart .ct{font-size:12px;font-weight:600}svg.chart .al{fill:var(--muted)}
svg.chart .axis line{stroke:#8a94a6}svg.chart line.grid{stroke:#eceff3}
svg.chart .ring{fill:none;stroke:#dde2ea}svg.chart .spoke{stroke:#b8c0cc}
svg.chart .missing{fill:#a05a00;font-style:italic}svg.chart .front{stroke:#555;
stroke-dasharray:5 3;stroke-width:1.5}.tabs{display:flex;gap:4px;flex-wrap:wrap;margin:10px 0}
.tabs button{border:1px solid var(--line);background:var(--soft);padding:6px 12px;
border-radius:6px 6px 0 0;cursor:pointer;font:inherit}.tabs button.on{background:#fff;
border-bottom-color:#fff;font-weight:600}.panel{display:none}.panel.on{display:block}
.notes li{color:var(--muted)}.warnings{border-left:4px solid #d97706;background:#fff7ed;
padding:6px 12px;margin:8px 0}pre{white-space:pre-wrap;font-size:11px;background:var(--soft);
padding:8px;border-radius:4px;max-height:260px;overflow:auto}.tokens span{padding:1px 2px;
border-radius:2px}.wide{overflow-x:auto}details{margin:6px 0}
summary{cursor:pointer;color:var(--accent)}
"""

_JS = """
document.querySelectorAll('.tabs button').forEach(function(b){b.addEventListener('click',
function(){document.querySelectorAll('.tabs button,.panel').forEach(function(e){
e.classList.remove('on')});b.classList.add('on');
document.getElementById(b.dataset.panel).classList.add('on')})});
"""


def _table(table_id: str, head: list[str], rows: list[list[str]]) -> str:
    """A table; ``head`` and ``rows`` hold ready HTML (callers escape their text)."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(f"<tr>{''.join(rows_cell for rows_cell in row)}</tr>" for row in rows)
    return f'<table id="{esc(table_id)}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _metric_head(name: str, higher: bool | None) -> str:
    arrow = "" if higher is None else (" ↑" if higher else " ↓")
    return f"{esc(name)}{arrow}"


def _cell(cell: Cell | None, is_baseline: bool) -> str:
    if cell is None:
        return '<td class="num muted">—</td>'
    ci = f" ± {fmt(cell.ci95, 2)}" if cell.ci95 is not None else ""
    text = f"{cell.mean:.4f}{ci}"
    delta = ""
    if cell.difference is not None:
        if cell.p_value is None:  # untested: say why, claim nothing
            how, mark = esc(cell.p_text), ""
        else:
            how = f"{esc(cell.p_text)}, {esc(cell.test)}"
            mark = ' <b class="sig">*</b>' if cell.significant else ' <span class="ns">n.s.</span>'
        delta = f'<span class="delta">Δ {cell.difference:+.4f} ({how}){mark}</span>'
    elif is_baseline:
        delta = '<span class="delta">baseline</span>'
    tip = esc(f"n = {cell.n} seeds; mean ± 95 % Student-t half-width")
    return f'<td class="num{" best" if cell.best else ""}" title="{tip}">{text}{delta}</td>'


def _scorecard(run: RunData) -> str:
    columns = headline_columns(run)
    cells = scorecard_cells(run, columns)
    base = run.scorecard.get("baseline")
    recipes = run.scorecard["recipes"]
    head = ["recipe", "seeds ok"]
    for c in columns:
        m = next((recipes[r]["metrics"][c] for r in cells if c in recipes[r]["metrics"]), None)
        head.append(_metric_head(c, m["higher_is_better"] if m else None).replace(".", ".<br>", 1))
    rows = []
    for recipe, by_column in cells.items():
        e = recipes[recipe]
        row = [
            f"<td>{esc(recipe)}</td>",
            f'<td class="num">{e["n_ok"]}/{e["n_ok"] + e["n_failed"]}</td>',
        ]
        row += [_cell(by_column[c], recipe == base) for c in columns]
        rows.append(row)
    legend = (
        f"Mean ± 95 % confidence half-width over seeds (Student t). Best per column highlighted "
        f"(↑ higher / ↓ lower is better). Δ: difference from the baseline "
        f"<b>{esc(base or 'none')}</b>, tested with {esc(SIGNIFICANCE_METHOD)}; "
        f"<b class='sig'>*</b> p &lt; {ALPHA}, <span class='ns'>n.s.</span> not significant."
    )
    table = _table("scorecard", head, rows)
    warnings = "".join(f"<li>⚠ {esc(w)}</li>" for w in warning_lines(run))
    box = (
        "<div class='warnings'><b>Warnings</b> (these numbers may mislead)"
        f"<ul>{warnings}</ul></div>"
        if warnings
        else ""
    )
    return f"<h2>Scorecard</h2><p class='muted'>{legend}</p>{box}<div class='wide'>{table}</div>"


def _scores(run: RunData) -> str:
    head = ["recipe", *(esc(_TITLES[p]) for p in PILLAR_ORDER)]
    rows, radars = [], []
    for i, recipe in enumerate(run.recipes):
        scores = run.scores(recipe)
        row = [f"<td>{esc(recipe)}</td>"]
        for p in PILLAR_ORDER:
            s = scores[p]
            text = (
                "not evaluated"
                if s is None
                else f"{s[0]:.1f}" + (f" ± {s[1]:.1f}" if s[1] is not None else "")
            )
            row.append(f'<td class="num{" muted" if s is None else ""}">{text}</td>')
        rows.append(row)
        values = [None if scores[p] is None else scores[p][0] for p in PILLAR_ORDER]  # type: ignore[index]
        radar = radar_chart([_SHORT[p] for p in PILLAR_ORDER], values, title=recipe, fill=colour(i))
        radars.append(f"<figure>{radar}</figure>")
    rules = "".join(
        f"<li><b>{esc(_TITLES[p])}</b>: {esc(SCORE_RULES[p])}</li>" for p in PILLAR_ORDER
    )
    return (
        "<h2>Pillar scores (0–100)</h2>"
        + _table("pillar-scores", head, rows)
        + f'<div class="charts">{"".join(radars)}</div>'
        + "<details><summary>How raw metrics become 0–100 scores</summary><ul>"
        + rules
        + "<li>Each component is clipped to [0, 100]; a pillar that was not evaluated "
        "has no score (never 0). Scores are per trial, then averaged over "
        "seeds.</li></ul></details>"
    )


def _all_metrics(run: RunData, pillar: str) -> str:
    names = list(
        dict.fromkeys(
            n
            for e in run.scorecard["recipes"].values()
            for n in e["metrics"]
            if n.startswith(f"{pillar}.")
        )
    )
    cells = scorecard_cells(run, names)
    recipes = list(cells)
    head = ["metric", *(esc(r) for r in recipes)]
    rows = []
    for n in names:
        higher = next(c.higher_is_better for r in recipes if (c := cells[r][n]) is not None)
        rows.append(
            [
                f"<td>{_metric_head(n.split('.', 1)[1], higher)}</td>",
                *(_cell(cells[r][n], False) for r in recipes),
            ]
        )
    return _table(f"metrics-{pillar}", head, rows)


def _notes(run: RunData, pillar: str) -> str:
    notes = dict.fromkeys(
        f"{r['trial']['key']}: {n}"
        for r in run.full()
        for n in r["pillars"].get(pillar, {}).get("notes", [])
    )
    if not notes:
        return ""
    items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return (
        f"<details><summary>Notes ({len(notes)})</summary><ul class='notes'>{items}</ul></details>"
    )


def _pillars(run: RunData) -> str:
    charts = pillar_charts(run)
    pillars = run.pillars()
    if not pillars:
        return "<h2>Pillars</h2><p class='muted'>No pillar was evaluated.</p>"
    buttons, panels = [], []
    for i, p in enumerate(pillars):
        on = " on" if i == 0 else ""
        title = esc(_TITLES.get(p, p))
        buttons.append(f'<button class="{on.strip()}" data-panel="panel-{esc(p)}">{title}</button>')
        body = f'<div class="charts">{charts.get(p, "")}</div>' if p in charts else ""
        panels.append(
            f'<section class="panel{on}" id="panel-{esc(p)}"><h3>{title}</h3>{body}'
            f"<h4>All metrics</h4>{_all_metrics(run, p)}{_notes(run, p)}</section>"
        )
    return f"<h2>Pillars</h2><div class='tabs'>{''.join(buttons)}</div>{''.join(panels)}"


def _pareto(run: RunData) -> str:
    figures = []
    for v in pareto_pairs(run):
        arrows = tuple("↑" if h else "↓" for h in v["higher"])
        svg = scatter_chart(
            v["points"],
            v["front"],
            title=f"{v['y']} vs {v['x']}",
            x_label=f"{v['x']} {arrows[0]}",
            y_label=f"{v['y']} {arrows[1]}",
        )
        front = ", ".join(v["front"])
        figures.append(
            f"<figure>{svg}<figcaption>Pareto front (filled): {esc(front)}</figcaption></figure>"
        )
    return f"<h2>Trade-offs (Pareto)</h2><div class='charts'>{''.join(figures)}</div>"


def _members(run: RunData) -> str:
    head, rows, notes = member_rows(run)
    if not rows:
        return ""
    cells = [
        [
            f"<td>{esc(v)}</td>" if i < 3 else f"<td class='num'>{esc(v)}</td>"
            for i, v in enumerate(r)
        ]
        for r in rows
    ]
    caveats = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return (
        "<h2>Ensemble members</h2><p class='muted'>Mean ± std over seeds. Gains are the mean "
        "member's NLL or ECE minus the ensemble's (positive: the ensemble is better); the best "
        "member is the most accurate on the test split itself (an optimistic reference); "
        "disagreement is the share of member pairs whose predictions differ, averaged over test "
        "rows; mutual information is the entropy of the mean probabilities minus the members' "
        "mean entropy (nats).</p>"
        + _table("members", [esc(h) for h in head], cells)
        + (f"<ul class='notes'>{caveats}</ul>" if caveats else "")
    )


def _heatmap(recipe: str, grid: list[list[float]]) -> str:
    """An accuracy matrix as a table shaded by value (darker: higher accuracy)."""
    head = ["after \\ on", *(f"exp {j}" for j in range(len(grid)))]
    rows = []
    for i, line in enumerate(grid):
        cells = [f"<th>exp {i}</th>"]
        for v in line:
            light = round(100 - 45 * max(0.0, min(1.0, v)))
            text = "#fff" if v > 0.6 else "#000"
            cells.append(
                f"<td class='num' style='background:hsl(210,60%,{light}%);color:{text}'>"
                f"{v:.2f}</td>"
            )
        rows.append(cells)
    return (
        f"<p class='muted'>{esc(recipe)}: accuracy matrix R[i, j] (rows: after experience i; "
        "columns: test rows of experience j; mean over seeds)</p>"
        + _table(f"matrix-{recipe}", head, rows)
    )


def _text_then_numbers(rows: list[list[str]], text: int) -> list[list[str]]:
    """Table cells: the first ``text`` columns as text, the rest right-aligned numbers."""
    return [
        [
            f"<td>{esc(v)}</td>" if i < text else f"<td class='num'>{esc(v)}</td>"
            for i, v in enumerate(r)
        ]
        for r in rows
    ]


def _adaptive(run: RunData) -> str:
    """Continual learning (scores, accuracy matrices, the stream's prequential curve) and
    test-time adaptation before and after; empty when no recipe adapts."""
    parts = []
    head, rows, _matrices = continual_rows(run)
    if rows:
        cells = _text_then_numbers(rows, 3)
        parts.append(
            "<h3>Continual learning</h3><p class='muted'>Mean ± std over seeds. Average "
            "accuracy: over every experience's test rows after the last one; forgetting: best "
            "earlier accuracy minus final accuracy, averaged over all but the last experience "
            "(Chaudhry et al. 2018); BWT: final minus just-learnt accuracy (Lopez-Paz & Ranzato "
            "2017); recovery: rows after a drift until the windowed prequential accuracy is back "
            "within the tolerance of its pre-drift level.</p>"
            + _table("continual", [esc(h) for h in head], cells)
            + "".join(_heatmap(recipe, grid) for recipe, grid in accuracy_matrices(run).items())
        )
    chart = stream_chart(run)
    if chart:
        parts.append(f"<div class='charts'>{chart}</div>")
    head, rows, notes = few_shot_rows(run)
    if rows:
        cells = _text_then_numbers(rows, 2)
        parts.append(
            "<h3>Few-shot on held-out classes</h3><p class='muted'>Query accuracy on the same "
            "episodes of classes no meta-learner saw: the meta-learned weights after a few SGD "
            "steps on the support set, a fresh model fine-tuned on it, and a logistic probe on "
            "a model trained on the other classes. Mean over seeds ± the 95 % interval over "
            "episodes.</p>"
            + _table("few-shot", [esc(h) for h in head], cells)
            + "".join(f"<p class='muted'>{esc(n)}</p>" for n in notes)
        )
    head, rows = adaptation_rows(run)
    if rows:
        cells = _text_then_numbers(rows, 2)
        parts.append(
            "<h3>Test-time adaptation</h3><p class='muted'>Accuracy of the same trained model "
            "without and with adaptation, mean ± std over seeds; each split is adapted on from "
            "the trained weights.</p>" + _table("adaptation", [esc(h) for h in head], cells)
        )
    return "<h2>Adaptive learning</h2>" + "".join(parts) if parts else ""


def _failed(run: RunData) -> str:
    failed = run.failed()
    if not failed:
        return "<h2>Failed trials</h2><p class='muted' id='no-failures'>None.</p>"
    rows = []
    for r in failed:
        err: dict[str, Any] = r.get("error") or {}
        tb = (
            f"<details><summary>traceback</summary><pre>{esc(err['traceback'])}</pre></details>"
            if err.get("traceback")
            else ""
        )
        rows.append(
            [
                f"<td>{esc(r['trial']['key'])}</td>",
                f"<td>{esc(err.get('type', ''))}</td>",
                f"<td>{esc(err.get('message', ''))}{tb}</td>",
            ]
        )
    return "<h2>Failed trials</h2>" + _table("failed", ["trial", "error", "message"], rows)


def render_html(run: RunData) -> str:
    """The whole report page as one string."""
    facts = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in run_facts(run, timestamps=True)
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>fivefold · {esc(run.experiment)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>fivefold · {esc(run.experiment)}</h1>"
        f"<table id='run-info'>{facts}</table>"
        + _scorecard(run)
        + _scores(run)
        + _pillars(run)
        + _members(run)
        + _adaptive(run)
        + _pareto(run)
        + _failed(run)
        + f"</main><script>{_JS}</script></body></html>\n"
    )
