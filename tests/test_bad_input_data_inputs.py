"""Bad input for ``data.inputs``, the clothing_reviews options and the modality slices of the
robustness pillar, through the real command line.

As in ``test_bad_input.py``: every case runs ``python -m fivefold.cli run exp.toml`` in a
subprocess inside a fresh folder and asserts exit code 2, exactly one line on stderr holding
the expected words, no traceback, and no file written or changed (the output folder absent or
empty). Each case fails while the config or the data loads, before the clothing file is read
wherever it does not need it, so none depends on the data being installed. Repeated inputs
and a single-input dataset's own name are checked without a subprocess in
``tests/data/test_clothing.py``, the range of the text edit rates in
``tests/pillars/test_modality_robustness.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

OUT = "out"
HEAD = "seeds = [0]\n[train]\nepochs = 1\n[recipes]\nbaseline = []\n"


@dataclass(frozen=True)
class Case:
    """One bad experiment: the body after :data:`HEAD`, words the one error line must hold,
    and extra files to write beside it."""

    name: str
    body: str
    words: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()


CASES = [
    Case(
        "unknown input name",
        '[data]\ndataset = "basic_motions"\ninputs = ["gyroscop"]\n',
        ("data.inputs", "'gyroscop'", "did you mean 'gyroscope'", "accelerometer, gyroscope"),
    ),
    Case(
        "inputs not a list",
        '[data]\ndataset = "basic_motions"\ninputs = "gyroscope"\n',
        ("data.inputs",),
    ),
    Case(
        "clothing sensitive attribute that it lacks",
        '[data]\ndataset = "clothing_reviews"\nsensitive = "sex"\n',
        ("data.sensitive", "'age'", "'sex'"),
    ),
    Case(
        "clothing target that it lacks",
        '[data]\ndataset = "clothing_reviews"\ntarget = "stars"\n',
        ("data.target", "'rating'", "'stars'"),
    ),
    Case(
        "clothing parquet path missing",
        '[data]\ndataset = "clothing_reviews"\npath = "reviews.parquet"\n',
        ("reviews.parquet", "not found", "data.path"),
    ),
    Case(
        "clothing CSV without the review columns",
        '[data]\ndataset = "clothing_reviews"\npath = "reviews.csv"\n',
        ("reviews.csv", "missing clothing-review column", "'Review Text'"),
        (("reviews.csv", "Title,Age,label\na,30,1\nb,40,0\n"),),
    ),
    Case(
        "modality noise level negative",
        "[pillars.robustness]\nmodality_noise = [-1.0]\n",
        ("modality_noise",),
    ),
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case) -> None:
    (tmp_path / "exp.toml").write_text(HEAD + case.body, encoding="utf-8")
    for name, content in case.files:
        (tmp_path / name).write_text(content, encoding="utf-8")
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
