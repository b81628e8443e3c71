"""Command line: parse, call the library, print. No logic lives here.

``fivefold run EXP.toml [--workers N] [--set k=v] [--out DIR] [--tensorboard DIR] [--mlflow URI]``,
``fivefold report RUN_DIR [--tensorboard DIR] [--mlflow URI]``,
``fivefold list datasets|models|techniques|pillars``, ``fivefold explain NAME``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from fivefold.errors import FivefoldError, first_line

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fivefold",
        description="Train models with technique recipes and score them on five pillars.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="print full tracebacks (also FIVEFOLD_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an experiment TOML file")
    run.add_argument("experiment", help="path of the experiment .toml file")
    run.add_argument("--workers", type=int, default=1, help="trials run in parallel processes")
    run.add_argument(
        "--seeds-apart",
        action="store_true",
        help="train every seed on its own (by default the seeds of a recipe train together as "
        "one wide model where the recipe and model allow it, with the same results)",
    )
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
    audit.add_argument(
        "--adapt",
        choices=["bn", "tent"],
        help="score the model with test-time adaptation (tta: bn or tent, default options); "
        "unadapted accuracies are reported beside",
    )
    audit.add_argument(
        "--rows",
        choices=["auto", "all", "test"],
        default="auto",
        help="rows to score: all rows of the data, its test split, or auto (a file's every "
        "row unless it has an official test split; a built-in dataset's test split)",
    )
    audit.add_argument(
        "--classes",
        metavar="NAME,NAME,...",
        help="class order of the model's outputs, id 0 first, as the data writes the labels "
        "(default: sorted; the order used is printed)",
    )
    audit.add_argument("--out", default="runs/audit", help="output folder")
    audit.add_argument("--seed", type=int, default=0, help="seed of sampled evaluations")
    lst = sub.add_parser("list", help="list registered plugins")
    lst.add_argument("kind", choices=["datasets", "models", "techniques", "pillars"])
    explain = sub.add_parser("explain", help="show the options of a plugin or config section")
    explain.add_argument("name", help="a dataset, model, technique, pillar, or data/train")
    for command in sub.choices.values():  # --debug before or after the command name
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="full tracebacks"
        )
    return parser


def _tracking_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard", metavar="DIR", help="also log every trial as TensorBoard event files"
    )
    parser.add_argument(
        "--mlflow", metavar="URI", help="also log every trial to MLflow (e.g. sqlite:///mlflow.db)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fivefold`` console script; returns the exit code.

    The one error boundary: a user error prints one line (exit 2), an unexpected exception one
    line naming the file that holds its traceback (exit 1), Ctrl-C one line (exit 130).
    ``--debug`` or ``FIVEFOLD_DEBUG=1`` prints the full traceback instead.
    """
    args = _parser().parse_args(argv)
    debug = args.debug or os.environ.get("FIVEFOLD_DEBUG", "") not in ("", "0")
    try:
        return _COMMANDS[args.command](args)
    except FivefoldError as err:
        if debug:
            traceback.print_exc()
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        print(f"fivefold: error: {'; '.join(lines)}", file=sys.stderr)  # one line, always
        return 2
    except KeyboardInterrupt:
        print(f"fivefold: interrupted{_INTERRUPTED.get(args.command, '')}", file=sys.stderr)
        return 130
    except Exception as err:  # a bug in fivefold or a library: keep the traceback, show a line
        if debug:
            traceback.print_exc()
        else:
            print(f"fivefold: internal error: {_saved_traceback(err, args)}", file=sys.stderr)
        return 1


_INTERRUPTED = {"run": "; finished trials are saved, run again to resume"}


def _saved_traceback(err: Exception, args: argparse.Namespace) -> str:
    """``Type: message; full traceback saved to <file>`` (the run's folder, else a temp file)."""
    text = "".join(traceback.format_exception(err))
    summary = first_line(err)
    for folder in (_output_folder(args), None):
        try:
            fd, name = tempfile.mkstemp(prefix="fivefold-traceback-", suffix=".txt", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError:
            continue
        return f"{summary}; full traceback saved to {name}"
    return f"{summary}; the traceback could not be saved, run with --debug to see it"


def _output_folder(args: argparse.Namespace) -> Path | None:
    """The command's output folder, if it has one and it exists (else the caller uses /tmp)."""
    out = getattr(args, "out", None) or getattr(args, "run_dir", None)
    if out is None and args.command == "run":
        try:
            from fivefold.config import load_experiment

            out = load_experiment(args.experiment, args.set).output_dir
        except Exception:  # the experiment itself may be what failed: use a temp file
            return None
    return Path(out) if out and Path(out).is_dir() else None


def _cmd_run(args: argparse.Namespace) -> int:
    from fivefold.cli_run import run_command

    return run_command(
        args.experiment,
        args.set,
        args.out,
        args.workers,
        args.tensorboard,
        args.mlflow,
        together=not args.seeds_apart,
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


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run,
    "report": _cmd_report,
    "audit": _cmd_audit,
    "list": _cmd_list,
    "explain": _cmd_explain,
}

if __name__ == "__main__":
    sys.exit(main())
