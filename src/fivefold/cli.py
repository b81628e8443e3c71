"""Command line: parse, call the library, print. No logic lives here.

``fivefold run EXP.toml [--workers N] [--set k=v] [--out DIR] [--tensorboard DIR] [--mlflow URI]``,
``fivefold report RUN_DIR [--tensorboard DIR] [--mlflow URI]``,
``fivefold list datasets|models|techniques|pillars``, ``fivefold explain NAME``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.markup import escape

from fivefold.errors import FivefoldError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fivefold",
        description="Train models with technique recipes and score them on five pillars.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment TOML file")
    run.add_argument("experiment", help="path of the experiment .toml file")
    run.add_argument("--workers", type=int, default=1, help="trials run in parallel processes")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set train.lr=0.01 (repeatable)",
    )
    run.add_argument("--out", help="output folder (overrides the experiment's output)")
    _tracking_flags(run)
    report = sub.add_parser("report", help="write report.html and summary.md of a finished run")
    report.add_argument("run_dir", help="the run's output folder (runs/<experiment>)")
    _tracking_flags(report)
    audit = sub.add_parser("audit", help="score a model you already have on the pillars")
    audit.add_argument("--model", required=True, help="package.module:factory returning the model")
    audit.add_argument("--weights", required=True, help="model weights (.safetensors)")
    audit.add_argument("--data", required=True, help="built-in dataset name or a data file")
    audit.add_argument(
        "--pillars", nargs="+", help="pillars to score (default: all but data_efficiency)"
    )
    audit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help="data option, e.g. --set data.sensitive=sex (repeatable)",
    )
    audit.add_argument("--out", default="runs/audit", help="output folder")
    audit.add_argument("--seed", type=int, default=0, help="seed of sampled evaluations")
    lst = sub.add_parser("list", help="list registered plugins")
    lst.add_argument("kind", choices=["datasets", "models", "techniques", "pillars"])
    explain = sub.add_parser("explain", help="show the options of a plugin or config section")
    explain.add_argument("name", help="a dataset, model, technique, pillar, or data/train")
    return parser


def _tracking_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard", metavar="DIR", help="also log every trial as TensorBoard event files"
    )
    parser.add_argument(
        "--mlflow", metavar="URI", help="also log every trial to MLflow (e.g. sqlite:///mlflow.db)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fivefold`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": _cmd_run,
        "report": _cmd_report,
        "audit": _cmd_audit,
        "list": _cmd_list,
        "explain": _cmd_explain,
    }
    try:
        return commands[args.command](args)
    except FivefoldError as err:
        print(f"fivefold: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "fivefold: interrupted; finished trials are saved, run again to resume", file=sys.stderr
        )
        return 130


def _cmd_run(args: argparse.Namespace) -> int:
    from fivefold.cli_run import run_command

    return run_command(
        args.experiment, args.set, args.out, args.workers, args.tensorboard, args.mlflow
    )


def _cmd_report(args: argparse.Namespace) -> int:
    from fivefold.report.command import report_command

    return report_command(args.run_dir, args.tensorboard, args.mlflow)


def _cmd_audit(args: argparse.Namespace) -> int:
    from fivefold.cli_run import audit_command

    return audit_command(args)


def _cmd_list(args: argparse.Namespace) -> int:
    from fivefold.catalog import registry_of

    console = Console(highlight=False)
    for entry in registry_of(args.kind):
        console.print(f"[bold]{escape(entry.name):<22}[/] {escape(entry.help)}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from fivefold.catalog import explain

    title, help_text, fields = explain(args.name)
    console = Console(highlight=False)
    console.print(f"[bold]{escape(title)}[/]: {escape(help_text)}")
    for f in fields:
        console.print(
            f"  [cyan]{escape(f.name)}[/] ({escape(f.type)}, default {escape(f.default)})"
        )
        console.print(f"      {escape(f.help)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
