"""fivefold.report: scorecard aggregation and the run report (never imports torch).

``write_report(run_dir)`` reads ``run_dir/trials/**/result.json`` and writes
``report.html`` (self-contained) and ``summary.md`` next to them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_report"]


def write_report(run_dir: Path | str) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.md`` into ``run_dir``; return their paths.

    Raises:
        DataError: ``run_dir`` holds no readable result file.
    """
    from fivefold.report.html import render_html
    from fivefold.report.load import load_run
    from fivefold.report.markdown import render_markdown

    run_dir = Path(run_dir)
    run = load_run(run_dir)
    html_path, md_path = run_dir / "report.html", run_dir / "summary.md"
    html_path.write_text(render_html(run), encoding="utf-8")
    md_path.write_text(render_markdown(run), encoding="utf-8")
    return html_path, md_path
