"""The scorecard as a terminal table: recipes × headline metrics, mean ± std over seeds."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["print_scorecard", "scorecard_table"]


def scorecard_table(scorecard: dict[str, Any]) -> Table:
    """A rich table of recipes × headline metrics; the best mean per column is bold."""
    table = Table(title=f"fivefold · {scorecard['experiment']}", title_justify="left")
    table.add_column("recipe", style="bold")
    table.add_column("seeds ok", justify="right")
    headlines = scorecard["headlines"]
    for name in headlines:
        table.add_column(name, justify="right")
    best = _best_per_metric(scorecard, headlines)
    for recipe, entry in scorecard["recipes"].items():
        cells = [escape(recipe), f"{entry['n_ok']}/{entry['n_ok'] + entry['n_failed']}"]
        for name in headlines:
            m = entry["metrics"].get(name)
            text = "—" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f}"
            cells.append(f"[bold green]{text}[/]" if best.get(name) == recipe else text)
        table.add_row(*cells)
    return table


def _best_per_metric(scorecard: dict[str, Any], names: list[str]) -> dict[str, str]:
    best: dict[str, str] = {}
    for name in names:
        scored = [
            (e["metrics"][name]["mean"] * (1 if e["metrics"][name]["higher_is_better"] else -1), r)
            for r, e in scorecard["recipes"].items()
            if name in e["metrics"]
        ]
        if len(scored) > 1:
            best[name] = max(scored)[1]
    return best


def print_scorecard(scorecard: dict[str, Any], console: Console | None = None) -> None:
    """Print the scorecard table and any failed trials."""
    console = console or Console()
    console.print(scorecard_table(scorecard))
    for failure in scorecard["failed"]:
        err = failure["error"] or {}
        console.print(
            f"[red]failed[/] {escape(failure['trial'])}: "
            f"{escape(str(err.get('type', '')))}: {escape(str(err.get('message', '')))}",
            highlight=False,
        )
