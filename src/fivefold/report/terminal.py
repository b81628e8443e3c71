"""The scorecard as a terminal table: headline metrics × recipes, mean ± std over seeds."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["print_scorecard", "scorecard_table"]


def scorecard_table(scorecard: dict[str, Any]) -> Table:
    """A rich table with one row per headline metric and one column per recipe.

    The best mean of each row is bold green (when there are several recipes); ↑/↓ tells
    whether higher or lower is better.
    """
    table = Table(title=f"fivefold · {escape(scorecard['experiment'])}", title_justify="left")
    table.add_column("metric", style="bold", overflow="fold")
    recipes = scorecard["recipes"]
    for recipe in recipes:  # fold, never "…": a cut number reads as another number
        table.add_column(escape(recipe), justify="right", overflow="fold")
    table.add_row(
        "seeds ok", *(f"{e['n_ok']}/{e['n_ok'] + e['n_failed']}" for e in recipes.values())
    )
    for name in scorecard["headlines"]:
        table.add_row(*_metric_row(name, recipes))
    return table


def _metric_row(name: str, recipes: dict[str, Any]) -> list[str]:
    found = [e["metrics"][name] for e in recipes.values() if name in e["metrics"]]
    higher = found[0]["higher_is_better"] if found else True
    sign = 1 if higher else -1
    best = max((sign * m["mean"] for m in found), default=None) if len(found) > 1 else None
    cells = [f"{escape(name)} {'↑' if higher else '↓'}"]
    for entry in recipes.values():
        m = entry["metrics"].get(name)
        text = "—" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f}"
        is_best = m is not None and best is not None and sign * m["mean"] == best
        cells.append(f"[bold green]{text}[/]" if is_best else text)
    return cells


def print_scorecard(scorecard: dict[str, Any], console: Console | None = None) -> None:
    """Print the scorecard table and any failed trials.

    Piped or redirected (not a terminal), the table is printed at its full width, however
    wide: a file has no width to fit, and no number is ever cut.
    """
    console = console or Console()
    table = scorecard_table(scorecard)
    if console.is_terminal:
        console.print(table)
    else:
        natural = console.measure(table, options=console.options.update_width(100_000)).maximum
        old = console.width
        console.width = max(old, natural)
        try:
            console.print(table)
        finally:
            console.width = old
    for failure in scorecard["failed"]:
        err = failure["error"] or {}
        console.print(
            f"[red]failed[/] {escape(failure['trial'])}: "
            f"{escape(str(err.get('type', '')))}: {escape(str(err.get('message', '')))}",
            highlight=False,
            soft_wrap=True,
        )
