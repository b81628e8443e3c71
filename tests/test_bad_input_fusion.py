"""Bad input for the ``fusion`` technique's options, through the real command line.

As in ``test_bad_input.py``: every case runs ``python -m fivefold.cli run exp.toml`` in a
subprocess inside a fresh folder and asserts exit code 2, exactly one line on stderr holding
the expected words, no traceback, and no file written or changed (the output folder absent or
empty). Option values fail while the config loads; a one-input dataset, an ``encoders`` key that
names no input and a recipe order that would waste the fusion model fail at plan time, before
any training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from support import run_bad_experiment

HEAD = "seeds = [0]\n[train]\nepochs = 1\n"
MOTIONS = '[data]\ndataset = "basic_motions"\n'


@dataclass(frozen=True)
class Case:
    """One bad experiment: the body after :data:`HEAD` and words the one error line must hold."""

    name: str
    body: str
    words: tuple[str, ...]


def fused(options: str) -> str:
    """basic_motions with one recipe: fusion with ``options``."""
    return MOTIONS + f"[recipes]\nr = [{{technique = 'fusion', {options}}}]\n"


CASES = [
    Case("unknown method", fused("method = 'middle'"), ("method", "'middle'", "'late'")),
    Case("unknown missing-input rule", fused("missing = 'nan'"), ("missing", "'nan'", "'zeros'")),
    Case(
        "modality dropout above its bound",
        fused("modality_dropout = 0.7"),
        ("modality_dropout", "0.7", "0.5"),
    ),
    Case(
        "unknown encoder model for an input",
        fused("encoders = {gyroscope = 'gruu'}"),
        ("encoders.gyroscope", "'gruu'", "did you mean 'gru'"),
    ),
    Case(
        "encoder for an input the dataset lacks",
        fused("encoders = {gyro = 'cnn'}"),
        ("fusion.encoders.gyro", "accelerometer, gyroscope"),
    ),
    Case(
        "fusion on a one-input dataset",
        '[data]\ndataset = "digits"\n[recipes]\nr = ["fusion"]\n',
        ("fusion", "two or more inputs", "one: x"),
    ),
    Case(
        "fusion after keeping one input of basic_motions",
        MOTIONS + 'inputs = ["gyroscope"]\n[recipes]\nr = ["fusion"]\n',
        ("fusion", "two or more inputs"),
    ),
    Case(
        "fusion listed after ssl",
        MOTIONS + "[recipes]\nr = ['ssl', 'fusion']\n",
        ("'fusion'", "before 'ssl'"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case) -> None:
    run_bad_experiment(tmp_path, HEAD + case.body, case.words)
