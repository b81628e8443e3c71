"""fivefold's ``fit()`` vs the usual hand-written PyTorch loop over a DataLoader.

Same model, data, batch size, optimizer (AdamW), epochs and per-epoch validation pass; both
loops are timed in alternation (ABAB) in one process so machine noise hits both equally.
Ratio = fivefold samples/s ÷ plain-loop samples/s (≥ 1.0 means fivefold adds no overhead).

Usage: ``python benchmarks/fit_throughput.py [--repeats 5] [--epochs 3]``
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _common import interleaved, load_average, median, timed
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.schema import build
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext


def digits_task(n_copies: int) -> Task:
    """Digits (8×8 flattened, scaled to [0,1]) repeated to a workload that takes seconds."""
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32).div(16).repeat(n_copies, 1)
    y = torch.tensor(data.target).repeat(n_copies)
    val = Split(x[:500], y[:500])
    return Task(
        "digits",
        {"train": Split(x, y), "val": val, "test": val},
        {"x": ModalityInfo("tabular", (64,))},
        tuple(str(i) for i in range(10)),
    )


def fashion_like_task(n: int) -> Task:
    """28×28 single-channel images for the compute-bound CNN case."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    val = Split(x[:500], y[:500])
    return Task(
        "images",
        {"train": Split(x, y), "val": val, "test": val},
        {"x": ModalityInfo("image", (1, 28, 28), (0.0, 1.0))},
        tuple(map(str, range(10))),
    )


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def plain_loop(model: nn.Module, task: Task, epochs: int, batch_size: int) -> float:
    """The usual ``train_model``: DataLoader, AdamW, cross-entropy, a validation pass."""
    loader = DataLoader(
        TensorDataset(task.train.x, task.train.y), batch_size=batch_size, shuffle=True
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)

    def run() -> None:
        for _ in range(epochs):
            model.train()
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                F.cross_entropy(model(task.val.x), task.val.y)

    return epochs * len(task.train) / timed(run)


def fivefold_fit(model: nn.Module, task: Task, epochs: int, batch_size: int) -> float:
    cfg = build(
        TrainConfig,
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "grad_clip": None,
            "patience": None,
            "checkpoint": False,
            "warmup_epochs": 0.0,
        },
        "t",
    )
    return epochs * len(task.train) / timed(lambda: fit(model, task, FitContext(cfg, seed=0)))


def case(
    name: str, make: Callable[[], nn.Module], task: Task, epochs: int, batch: int, repeats: int
) -> dict[str, object]:
    base = make()
    runs = interleaved(
        {
            "plain": lambda: plain_loop(copy.deepcopy(base), task, epochs, batch),
            "fivefold": lambda: fivefold_fit(copy.deepcopy(base), task, epochs, batch),
        },
        repeats,
    )
    ratios = [f / p for f, p in zip(runs["fivefold"], runs["plain"], strict=True)]
    return {
        "case": name,
        "batch_size": batch,
        "plain_samples_s": median(runs["plain"]),
        "fivefold_samples_s": median(runs["fivefold"]),
        "ratio_median": median(ratios),
        "ratios": [round(r, 3) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {load_average():.2f}; torch threads {torch.get_num_threads()}")
    digits = digits_task(10)
    rows = [
        case("mlp 64-256-256-10 on digits×10", mlp, digits, args.epochs, b, args.repeats)
        for b in (64, 256)
    ]
    rows.append(
        case(
            "cnn on 28×28 images (5k)",
            cnn,
            fashion_like_task(5000),
            1,
            64,
            max(2, args.repeats // 2),
        )
    )
    for row in rows:
        print(json.dumps(row))
    print(f"load average after: {load_average():.2f}")


if __name__ == "__main__":
    main()
