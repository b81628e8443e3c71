"""Bad input for the adaptive techniques' options, through the real command line.

As in ``test_bad_input.py``: each case runs ``fivefold run`` in a subprocess and expects exit
code 2, one stderr line with the expected words, no traceback and no file written. Option
values fail while the config loads; a model without the layers a method adapts fails at plan
time, before any training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from support import run_bad_experiment

HEAD = 'seeds = [0]\n[train]\nepochs = 1\n[data]\ndataset = "digits"\n'


@dataclass(frozen=True)
class Case:
    name: str
    body: str
    words: tuple[str, ...]


def recipe(technique: str, options: str, model: str = "") -> str:
    return f"{model}[recipes]\nr = [{{technique = '{technique}', {options}}}]\n"


BATCH_MLP = '[model]\nname = "mlp"\nnorm = "batch"\n'

CASES = [
    Case("tta unknown method", recipe("tta", "method = 'tent2'"), ("method", "'tent2'", "'bn'")),
    Case("tta batch of one", recipe("tta", "batch_size = 1"), ("batch_size", "1", "2")),
    Case("tta zero learning rate", recipe("tta", "lr = 0.0"), ("lr", "0")),
    Case("tta zero steps", recipe("tta", "steps = 0"), ("steps", "0", "1")),
    Case("tta momentum of one", recipe("tta", "momentum = 1.5"), ("momentum", "1.5")),
    Case("tta unknown optimizer", recipe("tta", "optimizer = 'rmsprop'"), ("optimizer", "'sgd'")),
    Case(
        "tta unknown option",
        recipe("tta", "episodes = 3"),
        ("episodes", "unknown option", "episodic"),
    ),
    Case(
        "tta on a model without normalisation",
        recipe("tta", "method = 'tent'", '[model]\nname = "mlp"\n'),
        ("tent", 'model.norm = "batch"', "recipes.r"),
    ),
    Case(
        "bn adaptation on a layer-norm model",
        recipe("tta", "method = 'bn'", '[model]\nname = "mlp"\nnorm = "layer"\n'),
        ("batch-norm", "LayerNorm", 'method = "tent"'),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case) -> None:
    run_bad_experiment(tmp_path, HEAD + case.body, case.words)
