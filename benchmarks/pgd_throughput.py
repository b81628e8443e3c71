"""fivefold's PGD-10 (L∞) robustness evaluation vs ``torchattacks.PGD``, same model and inputs.

Two trained models: fivefold's default ``cnn`` on scikit-learn digits (1×8×8) and on
Fashion-MNIST (1×28×28, trained for one epoch on 5k images); ~1000 inputs each, attacked in
chunks of ``--batch``, PGD-10 with step 2.5·eps/10 and a random start. Each side computes the
robust accuracy (torchattacks: attack, then one forward pass). Both run in alternation (ABAB)
in one process so machine noise hits both equally. Ratio = fivefold samples/s ÷ torchattacks
samples/s (≥ 1.0: fivefold is at least as fast); the accuracies must agree within 2 points.

fivefold is faster where samples are fooled early: they leave the batch (a sample counts as
robust only if every iterate is classified correctly), and parameters carry no gradients.

Usage: ``python benchmarks/pgd_throughput.py [--repeats 5] [--batch 256] [--threads N]``
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
import torchattacks
from _common import interleaved, load_average, median, timed
from sklearn.datasets import load_digits
from torch import nn

from fivefold.attacks.gradient import attack_boxes, pgd
from fivefold.data.images import read_idx
from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.models import MODELS
from fivefold.models.base import build_model

FASHION = Path("/usr/share/datasets/fashion-mnist")
STEPS = 10


def image_task(x: torch.Tensor, y: torch.Tensor) -> Task:
    """A task around (N, 1, H, W) images in [0, 1], only to size the model."""
    split = Split(x, y)
    info = {"x": ModalityInfo("image", tuple(x.shape[1:]), (0.0, 1.0))}
    return Task("bench", {"train": split, "val": split, "test": split}, info, tuple("0123456789"))


def digits_data() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    return x, torch.tensor(data.target)


def fashion_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` Fashion-MNIST training images (Debian package dataset-fashion-mnist)."""
    images = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:n]
    labels = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:n]
    x = torch.tensor(images, dtype=torch.float32).div(255).unsqueeze(1)
    return x, torch.tensor(labels, dtype=torch.int64)


def trained_cnn(x: torch.Tensor, y: torch.Tensor, epochs: int) -> nn.Module:
    """fivefold's default ``cnn`` trained with Adam on (x, y); returned in eval mode."""
    torch.manual_seed(0)
    model = build_model(MODELS.spec({"name": "cnn"}), image_task(x, y))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(epochs):
        for idx in torch.split(torch.randperm(len(y)), 64):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()  # type: ignore[no-untyped-call]
            opt.step()
    return model.eval()


def fivefold_pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, batch: int
) -> float:
    """Robust accuracy under fivefold's PGD, in chunks."""
    boxes = attack_boxes({"x": ModalityInfo("image", tuple(x.shape[1:]), (0.0, 1.0))})
    gen = torch.Generator().manual_seed(0)
    robust = sum(
        int(
            pgd(
                model, x[i : i + batch], y[i : i + batch], eps, boxes, steps=STEPS, gen=gen
            ).correct.sum()
        )
        for i in range(0, len(y), batch)
    )
    return robust / len(y)


def torchattacks_pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, batch: int
) -> float:
    """Robust accuracy under ``torchattacks.PGD`` in chunks, then one forward pass each."""
    torch.manual_seed(0)
    attack = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / STEPS, steps=STEPS)
    robust = 0
    for i in range(0, len(y), batch):
        adv = attack(x[i : i + batch], y[i : i + batch])
        with torch.no_grad():
            robust += int((model(adv).argmax(1) == y[i : i + batch]).sum())
    return robust / len(y)


def case(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    args: argparse.Namespace,
) -> dict[str, object]:
    accuracies: dict[str, float] = {}

    def throughput(side: str) -> float:
        run = fivefold_pgd if side == "fivefold" else torchattacks_pgd
        seconds = timed(lambda: accuracies.__setitem__(side, run(model, x, y, eps, args.batch)))
        return len(y) / seconds

    sides = ("torchattacks", "fivefold")
    for side in sides:  # warm-up: lazy kernel set-up is not part of either throughput
        throughput(side)
    runs = interleaved({side: partial(throughput, side) for side in sides}, args.repeats)
    ratios = [f / t for f, t in zip(runs["fivefold"], runs["torchattacks"], strict=True)]
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    return {
        "case": name,
        "eps": eps,
        "inputs": len(y),
        "batch": args.batch,
        "clean_accuracy": round(clean, 4),
        "fivefold_accuracy": round(accuracies["fivefold"], 4),
        "torchattacks_accuracy": round(accuracies["torchattacks"], 4),
        "accuracies_agree": abs(accuracies["fivefold"] - accuracies["torchattacks"]) <= 0.02,
        "torchattacks_samples_s": round(median(runs["torchattacks"]), 1),
        "fivefold_samples_s": round(median(runs["fivefold"]), 1),
        "ratio_median": round(median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average before: {load_average():.2f}; torch threads {torch.get_num_threads()}")
    x, y = digits_data()
    digits = trained_cnn(x, y, epochs=5)
    rows = [
        case("cnn on digits 1x8x8", digits, x[: args.inputs], y[: args.inputs], eps, args)
        for eps in (0.05, 0.1)
    ]
    if FASHION.is_dir():
        fx, fy = fashion_data(5000 + args.inputs)
        fashion = trained_cnn(fx[:5000], fy[:5000], epochs=1)
        rows += [
            case("cnn on Fashion-MNIST 1x28x28", fashion, fx[5000:], fy[5000:], eps, args)
            for eps in (0.01, 0.03)
        ]
    else:
        print(f"{FASHION} missing (apt-get install dataset-fashion-mnist): 28x28 case skipped")
    for row in rows:
        print(json.dumps(row))
    ratios = [r["ratio_median"] for r in rows if isinstance(r["ratio_median"], float)]
    print(f"median ratio over cases: {median(ratios):.3f}")
    print(f"load average after: {load_average():.2f}")


if __name__ == "__main__":
    main()
