"""``fivefold report``: write the report of a run folder and log it to trackers (no torch
unless ``--tensorboard`` asks for it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from fivefold.report import write_report
from fivefold.report.load import load_run

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
    """Report (and log) the run in ``run_dir``; exit code 0.

    Raises:
        DataError: ``run_dir`` holds no result file.
    """
    run = load_run(Path(run_dir))
    report_and_track(Path(run_dir), run.results, tensorboard, mlflow, Console(highlight=False))
    return 0
