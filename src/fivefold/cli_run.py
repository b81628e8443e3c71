"""``fivefold run``: load, validate, run with a progress display, print the scorecard."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fivefold.config import check_output_dir, load_experiment
from fivefold.report.command import report_and_track
from fivefold.report.terminal import print_scorecard
from fivefold.results.files import Trial
from fivefold.runner.run import plan_trials, run_experiment
from fivefold.training.hooks import EpochCallback

__all__ = ["audit_command", "run_command"]


def run_command(
    path: str,
    overrides: Sequence[str],
    out: str | None,
    workers: int,
    tensorboard: str | None = None,
    mlflow: str | None = None,
    *,
    together: bool = True,
) -> int:
    """Run the experiment at ``path``, write its report and log it to the trackers asked for;
    exit code 0, or 1 when some trial failed."""
    exp = load_experiment(path, overrides)
    if out:
        exp = dataclasses.replace(exp, output=out)
    check_output_dir(exp.output_dir, "--out" if out else "output")
    console = Console(highlight=False)
    n = len(plan_trials(exp))
    warnings: list[str] = []
    console.print(
        f"[bold]{escape(exp.name)}[/]: {len(exp.recipes)} recipe(s) × {len(exp.seeds)} seed(s) "
        f"= {n} trial(s) on {escape(exp.data.dataset)} → {escape(str(exp.output_dir))}"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        overall = progress.add_task("trials", total=n, status="")
        bars: dict[Trial, Any] = {}

        def on_epoch(trial: Trial) -> EpochCallback:
            bar = progress.add_task(f"  {escape(trial.key)}", total=None, status="")
            bars[trial] = bar

            def update(epoch: int, epochs: int, record: dict[str, float]) -> None:
                status = f"val acc {record['val_accuracy']:.3f}"
                progress.update(bar, completed=epoch, total=epochs, status=status)

            return update

        def on_trial(trial: Trial, result: dict[str, Any]) -> None:
            progress.advance(overall)
            if trial in bars:
                progress.remove_task(bars.pop(trial))
            console.print(_trial_line(trial, result))
            news = [w for w in result.get("warnings", []) if w not in warnings]
            print_warnings(news, console, indent="  ")

        def on_plan(lines: list[str]) -> None:
            warnings.extend(lines)
            print_warnings(lines, console)

        summary = run_experiment(
            exp,
            workers=workers,
            on_epoch=on_epoch,
            on_trial=on_trial,
            together=together,
            on_plan=on_plan,
        )
    if summary.skipped:
        console.print(f"reused {summary.skipped} finished trial(s) with the same config")
    for moved, reason in summary.set_aside:
        line = f"[yellow]![/] set aside invalid result {escape(str(moved))}: {escape(reason)}"
        console.print(f"{line}; its trial was re-run", soft_wrap=True)
    for recipe, fraction, seeds, why in summary.together:
        which = recipe if fraction >= 1.0 else f"{recipe} at {fraction:g} of the labels"
        if why is None:
            console.print(f"{escape(which)}: {len(seeds)} seeds trained together as one model")
        else:
            console.print(f"{escape(which)}: seeds trained one by one ({escape(why)})")
    print_scorecard(summary.scorecard, console)
    for recipe, entry in summary.scorecard["recipes"].items():
        print_warnings(entry.get("warnings", []), console, prefix=f"{recipe}, ")
    console.print(f"results in {escape(str(exp.output_dir))} ({summary.seconds:.1f} s)")
    report_and_track(exp.output_dir, summary.results, tensorboard, mlflow, console)
    return 1 if summary.failed else 0


def _trial_line(trial: Trial, result: dict[str, Any]) -> str:
    seconds = result["timings"].get("total_s", 0.0)
    if result["status"] != "ok":
        message = escape(result["error"]["message"])
        return f"[red]✗[/] {escape(trial.key)} failed: {message} ({seconds:.1f} s)"
    acc = result["metrics"]["test_accuracy"]
    return f"[green]✓[/] {escape(trial.key)} test accuracy {acc:.4f} ({seconds:.1f} s)"


def audit_command(args: Any) -> int:
    """``fivefold audit``: score an existing model; print the scorecard."""
    from pathlib import Path

    from fivefold.audit import AuditRequest, data_config_for, parse_pillars, run_audit
    from fivefold.config import apply_overrides
    from fivefold.errors import ConfigError

    raw = apply_overrides({}, args.set)
    unknown = [k for k in raw if k != "data"]
    if unknown:
        raise ConfigError(f"--set {unknown[0]}: audit only takes data.* options")
    data = dict(raw.get("data", {}))
    classes = getattr(args, "classes", None)
    if classes is not None:
        data["classes"] = [c.strip() for c in classes.split(",")]
    request = AuditRequest(
        model=args.model,
        weights=Path(args.weights),
        data=data_config_for(args.data, data),
        pillars=parse_pillars(args.pillars),
        output=Path(args.out),
        seed=args.seed,
        adapt=getattr(args, "adapt", None),
        rows=getattr(args, "rows", "auto"),
    )
    console = Console(highlight=False)
    result = run_audit(request)
    from fivefold.results.scorecard import build_scorecard

    evaluation = result["evaluation"]
    order = ", ".join(f"{i} = {c}" for i, c in enumerate(evaluation["classes"]))
    given = evaluation["classes_given"]
    how = "as given by --classes" if given else "sorted; --classes sets it"
    console.print(f"scored {escape(evaluation['rows'])}", soft_wrap=True)
    console.print(f"class order: {escape(order)} ({how})", soft_wrap=True)
    print_scorecard(build_scorecard("audit", [result]), console)
    print_warnings(result.get("warnings", []), console)
    console.print(f"results in {escape(str(request.output))}")
    return 0


def print_warnings(
    lines: Sequence[str], console: Console, *, indent: str = "", prefix: str = ""
) -> None:
    """Each warning on its own line, never cut: ``indent``, a yellow "!", ``prefix``, it."""
    for line in lines:
        console.print(f"{indent}[yellow]![/] {escape(prefix)}{escape(line)}", soft_wrap=True)
