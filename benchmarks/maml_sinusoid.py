"""MAML vs first-order MAML vs a jointly pretrained network on the MAML paper's sinusoids.

Finn, Abbeel & Levine (ICML 2017), Sec. 5.1: tasks ``y = A sin(x - φ)``, ``A ~ U[0.1, 5]``,
``φ ~ U[0, π]``, ``x ~ U[-5, 5]``; an MLP 1 → 40 → 40 → 1 (ReLU); MAML with K support points,
one inner SGD step at α = 0.01, 25 tasks per meta-batch, Adam at 0.001. Every network is then
fine-tuned on K points of each of ``--tasks`` new tasks with SGD at α = 0.01 for 1, 5 and 10
steps and scored by the MSE on 100 evenly spaced points over [-5, 5]. The table gives the
mean ± std over ``--seeds`` training seeds (same evaluation tasks for all), beside the
reference numbers for K = 5 (MAML 0.67/0.38/0.35, pretrained 2.41/2.23/2.19, as given in the
issue; the paper ran 70,000 meta-iterations, this runs ``--iterations``).

Usage: ``python benchmarks/maml_sinusoid.py [--iterations 15000] [--k 5] [--seeds 3]
[--tasks 200] [--threads 1] [--first-order | --no-first-order]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from _common import cpu_model, load_average
from torch import nn

from fivefold.techniques.adaptive.meta.sinusoid import (
    evaluate_sinusoid,
    sinusoid_tasks,
    train_maml_sinusoid,
    train_pretrained_sinusoid,
)

STEPS = (1, 5, 10)
PAPER_K5 = {
    "MAML": (0.67, 0.38, 0.35),
    "first-order MAML": None,
    "pretrained": (2.41, 2.23, 2.19),
}


def run(
    name: str,
    train: Callable[[int], nn.Module],
    seeds: int,
    iterations: int,
    tasks_seed: int,
    k: int,
    n_tasks: int,
) -> tuple[dict[int, list[float]], float]:
    """Train one network per seed; ({steps: MSE per seed}, seconds per iteration)."""
    tasks = sinusoid_tasks(n_tasks, k, tasks_seed, grid=True)
    scores: dict[int, list[float]] = {s: [] for s in STEPS}
    seconds = 0.0
    for seed in range(seeds):
        start = time.perf_counter()
        model = train(seed)
        seconds += time.perf_counter() - start
        for s, mse in evaluate_sinusoid(model, tasks, STEPS).items():
            scores[s].append(mse)
        print(
            f"  {name} seed {seed}: " + ", ".join(f"{scores[s][-1]:.3f}" for s in STEPS), flush=True
        )
    return scores, seconds / (seeds * iterations)


def cell(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {std:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--iterations", type=int, default=15000, help="meta-iterations (paper: 70,000)"
    )
    parser.add_argument("--k", type=int, default=5, help="support points per task (K)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds")
    parser.add_argument("--tasks", type=int, default=200, help="evaluation tasks")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest here)")
    parser.add_argument(
        "--first-order",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train and report first-order MAML (--no-first-order skips it)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"CPU: {cpu_model()}; torch {torch.__version__}, threads {torch.get_num_threads()}; "
        f"load average {load_average():.2f}"
    )
    print(f"K={args.k}, {args.iterations} iterations, {args.seeds} seeds, {args.tasks} test tasks")
    k, it = args.k, args.iterations
    runs: dict[str, Callable[[int], nn.Module]] = {
        "MAML": lambda seed: train_maml_sinusoid(it, k, seed),
        "first-order MAML": lambda seed: train_maml_sinusoid(it, k, seed, first_order=True),
        "pretrained": lambda seed: train_pretrained_sinusoid(it, seed),
    }
    if not args.first_order:
        del runs["first-order MAML"]
    results = {
        name: run(name, fn, args.seeds, it, 10_000, k, args.tasks) for name, fn in runs.items()
    }
    print()
    header = " | ".join(f"{s} step{'s' if s > 1 else ''}" for s in STEPS)
    print(f"| method | {header} | reference (K=5) | s / iteration |")
    print("|---|" + "---|" * len(STEPS) + "---|---|")
    for name, (scores, per_it) in results.items():
        paper = PAPER_K5[name]
        ref = "/".join(f"{v:.2f}" for v in paper) if paper and k == 5 else "-"
        cells = " | ".join(cell(scores[s]) for s in STEPS)
        print(f"| {name} | {cells} | {ref} | {per_it * 1000:.2f} ms |")
    print(f"load average after: {load_average():.2f}")


if __name__ == "__main__":
    main()
