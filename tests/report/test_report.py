"""The written report: golden summary.md, no torch, self-contained HTML, escaping, CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fivefold.cli import main
from fivefold.report import write_report
from fivefold.report.load import load_run
from fivefold.report.tables import headline_columns, scorecard_cells

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "summary.golden.md"


def test_summary_md_matches_the_golden_file(run_dir: Path) -> None:
    _, md = write_report(run_dir)
    assert md.read_bytes() == GOLDEN.read_bytes()
    text = md.read_text()
    assert str(run_dir) not in text and "/tmp" not in text
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text)  # no timestamps


def test_summary_is_the_same_for_a_copy_elsewhere(run_dir: Path, tmp_path: Path) -> None:
    write_report(run_dir)
    other = tmp_path / "elsewhere" / "deeper"
    other.parent.mkdir()
    run_dir.rename(other)
    _, md = write_report(other)
    assert md.read_bytes() == GOLDEN.read_bytes()


def test_report_never_imports_torch(run_dir: Path) -> None:
    code = (
        "import sys\nfrom fivefold.cli import main\n"
        f"assert main(['report', {str(run_dir)!r}]) == 0\n"
        "print(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"  # no torch, numpy or scipy
    assert (run_dir / "report.html").is_file()


def test_html_is_self_contained(run_dir: Path) -> None:
    html, _ = write_report(run_dir)
    text = html.read_text()
    urls = set(re.findall(r"[a-z]+://[\w.-]+", text))
    assert urls <= {"http://www.w3.org"}  # only the SVG namespace name, never fetched
    assert "<link" not in text and "<script src" not in text and "url(" not in text
    assert not re.search(r'(src|href)="//', text)
    assert re.findall(r'href="([^"#][^"]*)"', text) == [
        h for h in re.findall(r'href="([^"#][^"]*)"', text) if h.startswith("data:image/png")
    ]


def test_html_has_every_section(run_dir: Path, fairness_dir: Path) -> None:
    text = write_report(run_dir)[0].read_text()
    for table in ("run-info", "scorecard", "pillar-scores", "failed"):
        assert f'id="{table}"' in text or f"id='{table}'" in text
    kinds = set(re.findall(r'data-chart="([\w-]+)"', text))
    expected = {
        "radar",
        "learning-curve",
        "shift-curve",
        "corruption-curve",
        "attack-curve",
        "attribution-image",
        "reliability",
        "risk-coverage",
        "pareto",
    }
    assert expected <= kinds
    fair = set(re.findall(r'data-chart="([\w-]+)"', write_report(fairness_dir)[0].read_text()))
    assert {"fairness", "attribution-tabular"} <= fair
    assert "not evaluated" in write_report(fairness_dir)[0].read_text()


def test_best_cell_respects_the_metric_direction(run_dir: Path) -> None:
    run = load_run(run_dir)
    columns = headline_columns(run)
    cells = scorecard_cells(run, columns)
    recipes = run.scorecard["recipes"]
    for column in columns:
        means = {r: recipes[r]["metrics"][column]["mean"] for r in cells}
        higher = recipes["baseline"]["metrics"][column]["higher_is_better"]
        winner = (max if higher else min)(means, key=lambda r: means[r])
        assert [r for r in cells if cells[r][column].best] == [winner]  # type: ignore[union-attr]


def test_user_strings_are_escaped(hostile_dir: Path) -> None:
    html, md = write_report(hostile_dir)
    text = html.read_text()
    assert "<script>window" not in text and "<img src=x" not in text
    assert "&lt;script&gt;window.__pwned=1" in text
    assert "<script>" not in md.read_text()


def test_cli_report_and_a_missing_folder(run_dir: Path, tmp_path: Path, capsys: object) -> None:
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "summary.md").is_file()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_payload_is_a_real_script(payload: str) -> None:
    assert "<script>" in payload  # the escaping tests above would pass vacuously otherwise


def test_fivefold_run_writes_the_report(tmp_path: Path) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(
        'name = "tiny"\nseeds = [0]\n[data]\ndataset = "digits"\n'
        '[model]\nname = "mlp"\nhidden = [16]\n[train]\nepochs = 1\n[recipes]\nbaseline = []\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(toml), "--out", str(out)]) == 0
    assert (out / "report.html").is_file()
    text = (out / "summary.md").read_text()
    assert "| baseline | 1/1 |" in text and "not evaluated" in text


def test_a_piped_scorecard_is_never_cut(run_dir: Path) -> None:
    """Redirected output (no terminal, 80 columns by default) keeps every number whole."""
    import io
    import json

    from rich.console import Console

    from fivefold.report.terminal import print_scorecard

    card = json.loads(
        (FIXTURES / "run" / "trials" / "baseline" / "seed-0" / "result.json").read_text()
    )
    from fivefold.results.scorecard import build_scorecard

    results = [card] + [
        {**card, "trial": {**card["trial"], "recipe": f"a-long-recipe-name-{k}"}} for k in range(6)
    ]
    buffer = io.StringIO()
    print_scorecard(build_scorecard("t", results), Console(file=buffer, width=80))
    text = buffer.getvalue()
    assert "…" not in text
    value = f"{card['metrics']['test_accuracy']:.4f} ± 0.0000"
    assert text.count(value) >= 7  # every recipe's cell, whole
