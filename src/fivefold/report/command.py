"""``fivefold report``: write the report of a run folder and log it to trackers (no torch
unless ``--tensorboard`` asks for it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from fivefold.report import write_report
from fivefold.report.load import RunData, load_run
from fivefold.results.files import write_json

__all__ = ["report_and_track", "report_command"]


def report_and_track(
    run_dir: Path,
    results: Sequence[dict[str, Any]],
    tensorboard: str | None,
    mlflow: str | None,
    console: Console,
) -> None:
    """Write ``report.html`` and ``summary.md``, then log the trials to TensorBoard / MLflow.

    Raises:
        ConfigError: a tracker was asked for and its package is not installed.
    """
    html_path, md_path = write_report(run_dir)
    console.print(f"report: {escape(str(html_path))} · {escape(str(md_path))}", soft_wrap=True)
    if tensorboard:
        from fivefold.tracking import log_tensorboard

        folder = log_tensorboard(run_dir, results, Path(tensorboard))
        console.print(f"TensorBoard: tensorboard --logdir {escape(str(folder))}", soft_wrap=True)
    if mlflow:
        from fivefold.tracking import log_mlflow

        exp_id = log_mlflow(run_dir, results, mlflow)
        console.print(f"MLflow: experiment {escape(exp_id)} at {escape(mlflow)}", soft_wrap=True)


def report_command(run_dir: str, tensorboard: str | None, mlflow: str | None) -> int:
    """Report (and log) the run in ``run_dir``, rewriting its ``scorecard.json`` from the same
    valid results so that the two never disagree; exit code 0, or 1 when some result file was
    unusable (one line per such file on stderr; the report is still written without them).

    Raises:
        DataError: ``run_dir`` holds no valid result file.
    """
    folder = Path(run_dir)
    run = load_run(folder)
    _warn_left_out(run, Console(stderr=True, highlight=False))
    write_json(folder / "scorecard.json", run.scorecard)
    report_and_track(folder, run.results, tensorboard, mlflow, Console(highlight=False))
    return 1 if run.left_out else 0


def _warn_left_out(run: RunData, console: Console) -> None:
    """One line per unusable result file: its path and why it was left out."""
    for path, reason in run.left_out:
        console.print(f"left out {escape(str(path))}: {escape(reason)}", soft_wrap=True)
    if run.left_out:
        console.print(
            f"{len(run.left_out)} result file(s) left out of the report and scorecard.json; "
            "re-run 'fivefold run' to recompute them",
            soft_wrap=True,
        )
