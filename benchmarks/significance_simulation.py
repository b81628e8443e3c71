"""False-positive rate and power of the scorecard's recipe-vs-baseline tests, by simulation.

Each simulated experiment draws a fixed test set of ``--rows`` examples and runs a baseline and
a recipe with ``S`` paired seeds. Correctness is a probit model with a known truth:

    correct[r, s, i] = 1[μ_r + difficulty_i + flip_{r,i} + seed_s + offset_{r,s} + noise > 0]

``difficulty_i`` is shared by every seed and recipe, ``flip_{r,i}`` is the recipe's own
per-example effect (the same for all its seeds: which examples it gets right that the other
gets wrong), ``seed_s`` is shared by seed ``s`` of both recipes (pairing), ``offset_{r,s}`` is
a per-run accuracy offset (seed variance) and ``noise`` is per prediction. All are centred
Gaussians, so the population accuracy is exactly ``Φ(μ_r / τ)`` (τ² = the sum of their
variances); μ_r is set for a baseline accuracy of 80 % and the recipe at 80 % + Δ.

Two settings: "typical" (predictions vary across seeds) and "reproducible" (seeds barely change
the predictions, so every seed reproduces the same per-example differences: the setting where
a paired t-test over seeds ignores the test set's sampling noise and claims tiny differences).
The tests: the seed × example t-test (``fivefold.results.stats.seed_example_test``) and the old
paired t-test over the seed-level accuracies (``paired_t_test``). A claim is p < 0.05.

    python benchmarks/significance_simulation.py [--experiments 2000] [--rows 400]
        [--seeds 3 5] [--deltas 0.03 0.08]
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import time
from dataclasses import dataclass
from statistics import NormalDist

from _common import cpu_model, load_average

from fivefold.results.stats import ALPHA, paired_t_test, seed_example_test

BASE_ACCURACY = 0.80


@dataclass(frozen=True)
class Setting:
    """Standard deviations (probit scale) of the simulation's effects."""

    difficulty: float
    flip: float
    seed: float
    offset: float
    noise: float

    @property
    def tau(self) -> float:
        return math.sqrt(
            self.difficulty**2 + self.flip**2 + self.seed**2 + self.offset**2 + self.noise**2
        )


SETTINGS = {
    "typical": Setting(difficulty=1.5, flip=0.5, seed=0.1, offset=0.1, noise=0.7),
    "reproducible": Setting(difficulty=1.5, flip=1.0, seed=0.1, offset=0.01, noise=0.1),
}


def experiment(
    rng: random.Random, setting: Setting, seeds: int, rows: int, delta: float
) -> tuple[list[list[float]], list[list[float]]]:
    """Per-example 0/1 correctness ``(base[s][i], other[s][i])`` of one simulated experiment
    whose true accuracy difference (other − base, over new seeds and examples) is ``delta``."""
    gauss, rnd = rng.gauss, rng.random
    inv = NormalDist().inv_cdf
    mus = [setting.tau * inv(BASE_ACCURACY), setting.tau * inv(BASE_ACCURACY + delta)]
    difficulty = [gauss(0.0, setting.difficulty) for _ in range(rows)]
    shared = [gauss(0.0, setting.seed) for _ in range(seeds)]
    k = 1.0 / (setting.noise * math.sqrt(2.0))
    out: list[list[list[float]]] = []
    for mu in mus:
        latent = [mu + d + gauss(0.0, setting.flip) for d in difficulty]
        runs = []
        for s in range(seeds):
            shift = shared[s] + gauss(0.0, setting.offset)
            # P(correct) = Φ((latent + shift) / noise) = erfc(-(latent + shift) / (noise √2)) / 2
            runs.append([1.0 if 2.0 * rnd() < math.erfc(-(m + shift) * k) else 0.0 for m in latent])
        out.append(runs)
    return out[0], out[1]


def rates(
    setting: Setting, seeds: int, rows: int, delta: float, experiments: int, seed: int
) -> tuple[float, float]:
    """Fraction of experiments with p < ALPHA: (seed × example t, paired t over seeds)."""
    rng = random.Random(seed)
    new = old = 0
    for _ in range(experiments):
        base, other = experiment(rng, setting, seeds, rows, delta)
        new += seed_example_test(base, other).p_value < ALPHA
        p_old = paired_t_test([sum(r) / rows for r in base], [sum(r) / rows for r in other])
        old += not math.isnan(p_old) and p_old < ALPHA
    return new / experiments, old / experiments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=2000, help="per cell of the table")
    parser.add_argument("--rows", type=int, default=400, help="test examples per experiment")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5], help="seeds per recipe")
    parser.add_argument(
        "--deltas", type=float, nargs="+", default=[0.03, 0.08], help="true differences (power)"
    )
    args = parser.parse_args()
    print(
        f"CPU: {cpu_model()}; python {platform.python_version()}; load average {load_average():.2f}"
    )
    deltas = ", ".join(f"{d * 100:g}" for d in args.deltas)
    print(
        f"{args.experiments} experiments per cell, {args.rows} test rows, baseline accuracy "
        f"{BASE_ACCURACY:.0%}; power at true differences of {deltas} points; a claim is "
        f"p < {ALPHA}. Each cell: seed × example t / paired t over seeds (old)."
    )
    print()
    power = "".join(f" power at +{d * 100:g} pts |" for d in args.deltas)
    print(f"| setting | seeds | rows | false positives (no difference) |{power}")
    print("| --- | ---: | ---: | ---: |" + " ---: |" * len(args.deltas))
    start = time.perf_counter()
    for name, setting in SETTINGS.items():
        for seeds in args.seeds:
            cells = []
            for k, delta in enumerate([0.0, *args.deltas]):
                new, old = rates(setting, seeds, args.rows, delta, args.experiments, k + 1)
                cells.append(f"{new:.3f} / {old:.3f}")
            print(f"| {name} | {seeds} | {args.rows} | {' | '.join(cells)} |", flush=True)
    se = math.sqrt(ALPHA * (1 - ALPHA) / args.experiments)
    print()
    print(
        f"Standard error of a false-positive rate of {ALPHA} over {args.experiments} "
        f"experiments: {se:.3f}. Power is comparable only between tests whose false-positive "
        f"rate is near {ALPHA}. Took {time.perf_counter() - start:.1f} s."
    )


if __name__ == "__main__":
    main()
