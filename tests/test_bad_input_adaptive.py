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

HEAD = "seeds = [0]\n[train]\nepochs = 1\n"
DIGITS = '[data]\ndataset = "digits"\n'


@dataclass(frozen=True)
class Case:
    name: str
    body: str
    words: tuple[str, ...]


def recipe(technique: str, options: str, model: str = "", data: str = DIGITS) -> str:
    return f"{data}{model}[recipes]\nr = [{{technique = '{technique}', {options}}}]\n"


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
    Case(
        "continual unknown scenario",
        recipe("continual", "scenario = 'task'"),
        ("scenario", "'task'", "'class'"),
    ),
    Case("continual one experience", recipe("continual", "experiences = 1"), ("experiences", "2")),
    Case(
        "continual experiences not dividing the classes",
        recipe("continual", "experiences = 3"),
        ("experiences = 3", "must divide", "10 classes", "2, 5, 10"),
    ),
    Case(
        "continual class order missing a class",
        recipe("continual", "class_order = [0, 1, 2]"),
        ("class_order", "0..9"),
    ),
    Case(
        "continual unknown strategy",
        recipe("continual", "strategy = 'gem'"),
        ("strategy", "'gem'", "'replay'"),
    ),
    Case("continual empty buffer", recipe("continual", "buffer = 0"), ("buffer", "0", "1")),
    Case("continual zero ewc strength", recipe("continual", "ewc_lambda = 0.0"), ("ewc_lambda",)),
    Case(
        "continual unknown fisher",
        recipe("continual", "fisher = 'kfac'"),
        ("fisher", "'kfac'", "'sampled'"),
    ),
    Case(
        "continual stream on data without order",
        recipe("continual", "scenario = 'stream'"),
        ("stream", "'digits'", "sea_stream"),
    ),
    Case(
        "continual ewc on a stream",
        recipe(
            "continual",
            "scenario = 'stream', strategy = 'ewc'",
            data='[data]\ndataset = "sea_stream"\n',
        ),
        ("'ewc'", "stream", "'replay'"),
    ),
    Case(
        "continual unknown detector",
        recipe("continual", "detector = 'ddm'"),
        ("detector", "'ddm'", "'adwin'"),
    ),
    Case(
        "continual unknown drift action",
        recipe("continual", "on_drift = 'retrain'"),
        ("on_drift", "'retrain'", "'lr_boost'"),
    ),
    Case(
        "continual unknown detector option",
        recipe(
            "continual",
            "scenario = 'stream', detector = 'adwin', detector_options = {deltaa = 0.1}",
            data='[data]\ndataset = "sea_stream"\n',
        ),
        ("deltaa", "did you mean 'delta'"),
    ),
    Case(
        "continual detector options without a detector",
        recipe(
            "continual",
            "scenario = 'stream', detector_options = {delta = 0.1}",
            data='[data]\ndataset = "sea_stream"\n',
        ),
        ("detector_options", "detector = 'none'"),
    ),
    Case("continual tolerance above one", recipe("continual", "tolerance = 2.0"), ("tolerance",)),
    Case("continual tiny window", recipe("continual", "window = 2"), ("window", "10")),
    Case(
        "continual ensemble listed after it",
        DIGITS + "[recipes]\nr = ['continual', 'ensemble']\n",
        ("'ensemble'", "before 'continual'"),
    ),
    Case(
        "continual with peft",
        DIGITS + "[recipes]\nr = ['continual', 'peft']\n",
        ("continual", "conflicts", "peft"),
    ),
    Case("meta unknown method", recipe("meta", "method = 'protonet'"), ("method", "'maml'")),
    Case("meta one way", recipe("meta", "ways = 1"), ("ways", "1", "2")),
    Case(
        "meta ways beyond the meta-train classes",
        recipe("meta", "ways = 8"),
        ("meta", "10 classes", "ways <= classes - test_classes"),
    ),
    Case(
        "meta too few held-out classes",
        recipe("meta", "test_classes = 3"),
        ("test_classes = 3", "fewer than ways = 5"),
    ),
    Case(
        "meta episode larger than a class",
        recipe("meta", "queries = 300"),
        ("meta", "training rows", "queries"),
    ),
    Case("meta zero inner rate", recipe("meta", "inner_lr = 0.0"), ("inner_lr",)),
    Case("meta reptile step above one", recipe("meta", "reptile_step = 2.0"), ("reptile_step",)),
    Case("meta zero shots evaluated", recipe("meta", "eval_shots = [0]"), ("eval_shots",)),
    Case(
        "meta on text",
        recipe("meta", "ways = 2", data='[data]\ndataset = "rotten_tomatoes"\n'),
        ("'meta'", "text"),
    ),
    Case(
        "meta with an ensemble",
        DIGITS + "[recipes]\nr = ['meta', 'ensemble']\n",
        ("conflicts",),
    ),
    Case("tta episodic not a boolean", recipe("tta", "episodic = 'yes'"), ("episodic",)),
    Case(
        "continual negative replay batch",
        recipe("continual", "replay_batch = -1"),
        ("replay_batch",),
    ),
    Case(
        "continual tiny fisher sample",
        recipe("continual", "fisher_samples = 2"),
        ("fisher_samples", "10"),
    ),
    Case(
        "continual unknown domain shift",
        recipe("continual", "scenario = 'domain', domain = 'blur'"),
        ("domain", "'blur'", "'rotation'"),
    ),
    Case("continual zero shift level", recipe("continual", "max_level = 0.0"), ("max_level",)),
    Case("continual zero chunk", recipe("continual", "chunk = 0"), ("chunk", "1")),
    Case(
        "continual unknown signal",
        recipe("continual", "signal = 'margin'"),
        ("signal", "'margin'", "'error'"),
    ),
    Case("continual boost below one", recipe("continual", "boost = 0.5"), ("boost", "1")),
    Case("continual zero boost steps", recipe("continual", "boost_steps = 0"), ("boost_steps",)),
    Case("meta zero shots", recipe("meta", "shots = 0"), ("shots", "1")),
    Case("meta negative class seed", recipe("meta", "class_seed = -1"), ("class_seed",)),
    Case("meta zero iterations", recipe("meta", "iterations = 0"), ("iterations", "1")),
    Case("meta zero meta batch", recipe("meta", "meta_batch = 0"), ("meta_batch",)),
    Case("meta zero inner steps", recipe("meta", "inner_steps = 0"), ("inner_steps",)),
    Case("meta zero meta rate", recipe("meta", "meta_lr = 0.0"), ("meta_lr",)),
    Case("meta zero evaluation episodes", recipe("meta", "eval_episodes = 0"), ("eval_episodes",)),
    Case("meta negative evaluation steps", recipe("meta", "eval_steps = -1"), ("eval_steps",)),
    Case("meta zero scratch steps", recipe("meta", "scratch_steps = 0"), ("scratch_steps",)),
    Case("meta zero scratch rate", recipe("meta", "scratch_lr = 0.0"), ("scratch_lr",)),
    Case("meta negative probe penalty", recipe("meta", "probe_l2 = -1.0"), ("probe_l2",)),
    Case(
        "continual domain rotation on tabular data",
        recipe("continual", "scenario = 'domain'", data='[data]\ndataset = "adult"\n'),
        ("rotation", "images"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case) -> None:
    run_bad_experiment(tmp_path, HEAD + case.body, case.words)
