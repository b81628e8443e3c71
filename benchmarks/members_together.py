"""K members (or seeds) trained together as one wide model vs one after another.

For the default ``mlp`` (digits, 64 features) and the default ``cnn`` (Fashion-MNIST 28×28, a
training subset), both at the default batch size (64) and settings:

- **members**: 5 members trained together (``fit_together``: stacked weights, batched matmuls,
  grouped convolutions, one fused AdamW step) vs the same 5 trained one after another with
  ``fit``; same data, epochs and seeds. Ratio = time apart ÷ time together (target ≥ 2.5×).
- **seeds**: 3 seeds together vs ONE seed alone: ratio = time of 3 together ÷ time of one
  (target ≤ 1.6×).
- **twins**: the max absolute parameter difference between each member trained together and
  its twin trained alone, beside the same difference between two lone runs that differ only
  in torch's thread count (the float-rounding floor of the machine).

Timings alternate (ABAB) in one process; the median of ``--repeats`` is reported with the CPU
model and load average.

Usage: ``python benchmarks/members_together.py [--repeats 3] [--epochs 2] [--threads 2]``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch
from _common import cpu_model, interleaved, load_average, median, timed
from torch import nn

from fivefold.data import DataConfig, load_task
from fivefold.data.task import Task
from fivefold.models import MODELS, build_model, prepare_task
from fivefold.schema import build
from fivefold.training.config import TrainConfig
from fivefold.training.fit import fit
from fivefold.training.hooks import FitContext
from fivefold.training.together import fit_together, member_stream


def workload(model: str) -> tuple[Any, Task]:
    spec = MODELS.spec(model)
    if model == "mlp":
        data = build(DataConfig, {"dataset": "digits"}, "data")
    else:
        data = build(DataConfig, {"dataset": "fashion_mnist", "max_train": 2000}, "data")
    return spec, prepare_task(spec, load_task(data))


def members(spec: Any, task: Task, seeds: list[int]) -> tuple[list[nn.Module], list[Any]]:
    models, streams = [], []
    for s in seeds:
        torch.manual_seed(s)
        models.append(build_model(spec, task))
        streams.append(member_stream())
    return models, streams


def contexts(train: TrainConfig, seeds: list[int]) -> list[FitContext]:
    return [FitContext(train, 0).for_member(f"m{k}", s) for k, s in enumerate(seeds)]


def apart(spec: Any, task: Task, train: TrainConfig, seeds: list[int]) -> list[nn.Module]:
    models, streams = members(spec, task, seeds)
    for model, ctx, stream in zip(models, contexts(train, seeds), streams, strict=True):
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(stream.get_state())
            fit(model, task, ctx)
    return models


def together(spec: Any, task: Task, train: TrainConfig, seeds: list[int]) -> list[nn.Module]:
    models, streams = members(spec, task, seeds)
    fit_together(models, task, contexts(train, seeds), streams)
    return models


def max_diff(a: list[nn.Module], b: list[nn.Module]) -> float:
    return max(
        float((p.double() - q.double()).abs().max())
        for x, y in zip(a, b, strict=True)
        for p, q in zip(x.state_dict().values(), y.state_dict().values(), strict=True)
        if p.is_floating_point()
    )


def bench(model: str, train: TrainConfig, repeats: int, threads: int) -> dict[str, Any]:
    spec, task = workload(model)
    five, three, one = [0, 1, 2, 3, 4], [0, 1, 2], [0]
    fns: dict[str, Callable[[], float]] = {
        "5 apart": lambda: timed(lambda: apart(spec, task, train, five)),
        "5 together": lambda: timed(lambda: together(spec, task, train, five)),
        "1 seed": lambda: timed(lambda: apart(spec, task, train, one)),
        "3 seeds together": lambda: timed(lambda: together(spec, task, train, three)),
    }
    together(spec, task, train, three)  # warm-up: first calls pay one-off costs
    apart(spec, task, train, one)
    times = {k: median(v) for k, v in interleaved(fns, repeats).items()}
    twins = max_diff(together(spec, task, train, three), apart(spec, task, train, three))
    torch.set_num_threads(1 if threads > 1 else 2)
    other = apart(spec, task, train, three)
    torch.set_num_threads(threads)
    floor = max_diff(other, apart(spec, task, train, three))
    return {
        "model": model,
        "dataset": task.name,
        "train_rows": len(task.train),
        "seconds": times,
        "members_speedup": times["5 apart"] / times["5 together"],
        "seeds_ratio": times["3 seeds together"] / times["1 seed"],
        "twin_max_param_diff": twins,
        "thread_count_floor": floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = build(TrainConfig, {"epochs": args.epochs, "checkpoint": False}, "train")
    print(f"CPU: {cpu_model()}; torch threads {args.threads}; load {load_average():.2f}")
    rows = []
    for model in args.models:
        row = bench(model, train, args.repeats, args.threads)
        rows.append(row)
        s = row["seconds"]
        print(
            f"{model:4s} {row['dataset']:13s} n={row['train_rows']:5d}  "
            f"5 apart {s['5 apart']:.2f}s  5 together {s['5 together']:.2f}s  "
            f"→ ×{row['members_speedup']:.2f}   "
            f"1 seed {s['1 seed']:.2f}s  3 seeds together {s['3 seeds together']:.2f}s "
            f"→ {row['seeds_ratio']:.2f}× one seed   "
            f"twin max |Δθ| {row['twin_max_param_diff']:.1e} "
            f"(thread-count floor {row['thread_count_floor']:.1e})"
        )
    print(f"load after: {load_average():.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
