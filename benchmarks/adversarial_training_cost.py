"""Cost of one epoch of PGD-k adversarial training relative to clean training, fivefold's fit.

The model is fivefold's default ``cnn`` on 1×28×28 images (Fashion-MNIST training images when
the Debian package ``dataset-fashion-mnist`` is installed, uniform noise otherwise: the cost
does not depend on the pixels). One epoch of ``fit`` with the baseline recipe and with
``{technique = "adversarial", method = "pgd", steps = k}`` for each k, run in alternation
(ABAB) in one process so machine noise hits every side equally. The validation split is
kept tiny so the epoch time is the training time.

Each PGD step is one forward and one backward pass to the inputs, so the expected cost ratio
is about k + 1 (a little less: crafting runs in eval mode and computes no parameter
gradients).

Usage: ``python benchmarks/adversarial_training_cost.py [--quick] [--repeats 3] [--inputs 2000]
[--steps 3 7 10] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import torch
from _common import interleaved, load_average, median

from fivefold.data.images import read_idx
from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.models import MODELS
from fivefold.models.base import build_model
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext

FASHION = Path("/usr/share/datasets/fashion-mnist")


def images(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(n, 1, 28, 28) images in [0, 1], (n,) labels and where they came from."""
    if FASHION.is_dir():
        x = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:n]
        y = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:n]
        xs = torch.tensor(x, dtype=torch.float32).div(255).unsqueeze(1)
        return xs, torch.tensor(y, dtype=torch.int64), "Fashion-MNIST"
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g), "noise"


def make_task(x: torch.Tensor, y: torch.Tensor) -> Task:
    tiny = Split(x[:32], y[:32])
    info = {"x": ModalityInfo("image", (1, 28, 28), (0.0, 1.0))}
    splits = {"train": Split(x, y), "val": tiny, "test": tiny}
    return Task("bench", splits, info, tuple("0123456789"))


def epoch_throughput(task: Task, steps: int, batch_size: int) -> float:
    """Training samples per second of one epoch (steps = 0: clean training)."""
    torch.manual_seed(0)
    model = build_model(MODELS.spec({"name": "cnn"}), task)
    recipe = [] if steps == 0 else [{"technique": "adversarial", "method": "pgd", "steps": steps}]
    techniques = [TECHNIQUES.spec(r, "recipe").instantiate() for r in recipe]
    train = build(
        TrainConfig, {"epochs": 1, "batch_size": batch_size, "checkpoint": False}, "train"
    )
    ctx = FitContext(train, seed=0, techniques=techniques)
    result = compose_fit(techniques, fit)(model, task, ctx)
    return len(task.train) / result.history[-1]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="256 images, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 7, 10])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.quick:
        args.inputs, args.repeats = 256, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average before: {load_average():.2f}; torch threads {torch.get_num_threads()}")
    x, y, source = images(args.inputs)
    task = make_task(x, y)
    sides = {f"pgd{k}": partial(epoch_throughput, task, k, args.batch) for k in args.steps}
    sides = {"clean": partial(epoch_throughput, task, 0, args.batch), **sides}
    epoch_throughput(task, 0, args.batch)  # warm-up: lazy kernel set-up is not measured
    runs = interleaved(sides, args.repeats)
    for k in args.steps:
        ratios = [c / a for c, a in zip(runs["clean"], runs[f"pgd{k}"], strict=True)]
        row = {
            "case": f"PGD-{k} vs clean, cnn on {source} 1x28x28",
            "inputs": args.inputs,
            "batch": args.batch,
            "clean_samples_s": round(median(runs["clean"]), 1),
            "pgd_samples_s": round(median(runs[f"pgd{k}"]), 1),
            "cost_ratio_median": round(median(ratios), 2),
            "expected_k_plus_1": k + 1,
            "ratios": [round(r, 2) for r in ratios],
        }
        print(json.dumps(row))
    print(f"load average after: {load_average():.2f}")


if __name__ == "__main__":
    main()
