"""Batched augmentation vs the same ops applied one sample at a time.

The ``augment`` technique transforms a whole batch per op (kornia for images, tensor ops and
one ``grid_sample`` for series). The reference is a per-sample loop calling the very same
functions on batches of one, which is what a per-sample ``Dataset.__getitem__`` transform
does. Cases: the default image policy on 28×28 (Fashion-MNIST size) and 8×8 (digits) images,
RandAugment (2 ops, magnitude 5) on 28×28 images, and the default series policy on 6×100
(BasicMotions size) series. Both sides run in alternation (ABAB) in one process; ratio =
batched samples/s ÷ per-sample samples/s.

Usage: ``python benchmarks/augment_throughput.py [--repeats 5] [--batch 64] [--threads 1]
[--quick]``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import torch
from _common import interleaved, load_average, median, timed

from fivefold.techniques.augment.config import DEFAULT_OPS, DEFAULT_STRENGTH
from fivefold.techniques.augment.image import augment_images
from fivefold.techniques.augment.ops import apply_with_prob
from fivefold.techniques.augment.series import SERIES_OPS

Augmenter = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def image_policy(rand_n: int) -> Augmenter:
    steps = [(op, DEFAULT_STRENGTH[op], 0.5) for op in DEFAULT_OPS["image"]]

    def run(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return augment_images(x, steps, (0.0, 1.0), gen, rand_n, 5.0)

    return run


def series_policy(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    for op in DEFAULT_OPS["sequence"]:
        x = apply_with_prob(x, SERIES_OPS[op], DEFAULT_STRENGTH[op], 0.5, gen)
    return x


def throughput(fn: Augmenter, x: torch.Tensor, per_sample: bool, batches: int) -> float:
    """Samples per second of ``fn`` over ``batches`` batches, batched or row by row."""
    gen = torch.Generator().manual_seed(0)

    def work() -> None:
        for _ in range(batches):
            if per_sample:
                torch.cat([fn(x[i : i + 1], gen) for i in range(len(x))])
            else:
                fn(x, gen)

    return batches * len(x) / timed(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10, help="batches per timing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2 repeats of 2 batches")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats, batches = (2, 2) if args.quick else (args.repeats, args.batches)
    g = torch.Generator().manual_seed(0)
    b = args.batch
    cases: dict[str, tuple[Augmenter, torch.Tensor]] = {
        "image policy, 1x28x28": (image_policy(0), torch.rand(b, 1, 28, 28, generator=g)),
        "image policy, 1x8x8": (image_policy(0), torch.rand(b, 1, 8, 8, generator=g)),
        "RandAugment n=2 m=5, 1x28x28": (image_policy(2), torch.rand(b, 1, 28, 28, generator=g)),
        "series policy, 6x100": (series_policy, torch.randn(b, 6, 100, generator=g)),
    }
    rows = []
    load_before = load_average()
    for name, (fn, x) in cases.items():
        fn(x, torch.Generator().manual_seed(0))  # warm-up
        runs = interleaved(
            {
                "batched": lambda fn=fn, x=x: throughput(fn, x, False, batches),
                "per_sample": lambda fn=fn, x=x: throughput(fn, x, True, batches),
            },
            repeats,
        )
        batched, single = median(runs["batched"]), median(runs["per_sample"])
        rows.append({"case": name, "batched": batched, "per_sample": single})
        print(
            f"| {name} | {b} | {single:,.0f} | {batched:,.0f} | **{batched / single:.1f}** |",
            flush=True,
        )
    meta = {"load_before": load_before, "load_after": load_average(), "threads": args.threads}
    print(json.dumps({"rows": rows, **meta}, indent=1))


if __name__ == "__main__":
    main()
