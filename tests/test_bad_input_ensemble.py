"""Bad input for the ``ensemble`` technique's options, through the real command line.

As in ``test_bad_input.py``: every case runs ``python -m fivefold.cli run exp.toml`` in a
subprocess inside a fresh folder and asserts exit code 2, exactly one line on stderr holding
the expected words, no traceback, and no file written or changed (the output folder absent or
empty). Every case fails while the config loads, before any data is read or model trained.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

OUT = "out"
HEAD = 'seeds = [0]\n[train]\nepochs = 1\n[data]\ndataset = "digits"\n'


@dataclass(frozen=True)
class Case:
    """One bad experiment: the body after :data:`HEAD` and words the one error line must hold."""

    name: str
    body: str
    words: tuple[str, ...]


def ensembled(options: str) -> str:
    """One recipe: ensemble with ``options``."""
    return f"[recipes]\nr = [{{technique = 'ensemble', {options}}}]\n"


CASES = [
    Case("unknown method", ensembled("method = 'boost'"), ("method", "'boost'", "boosting")),
    Case("one member", ensembled("members = 1"), ("members", "1", "2")),
    Case("too many members", ensembled("members = 1000"), ("members", "1000", "64")),
    Case("members not an integer", ensembled("members = 2.5"), ("members", "2.5")),
    Case("together not a boolean", ensembled("together = 'yes'"), ("together", "'yes'")),
    Case("bootstrap of zero rows", ensembled("bootstrap = 0.0"), ("bootstrap", "0.1")),
    Case("bootstrap above all rows", ensembled("bootstrap = 1.5"), ("bootstrap", "1.5", "1")),
    Case("one fold", ensembled("folds = 1"), ("folds", "1", "2")),
    Case("negative meta_l2", ensembled("meta_l2 = -0.1"), ("meta_l2", "-0.1")),
    Case("misspelt option", ensembled("member = 3"), ("member", "did you mean 'members'")),
    Case(
        "ensemble listed twice",
        "[recipes]\nr = ['ensemble', {technique = 'ensemble', members = 3}]\n",
        ("'ensemble'", "twice"),
    ),
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case) -> None:
    (tmp_path / "exp.toml").write_text(HEAD + case.body, encoding="utf-8")
    before = _snapshot(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "FIVEFOLD_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "fivefold.cli", "run", "exp.toml", "--out", OUT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    for word in case.words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert _snapshot(tmp_path) == before, "a failed run changed files"
    out = tmp_path / OUT
    assert not out.exists() or not any(out.iterdir()), "a run that failed left files"
