"""fivefold's batched Integrated Gradients and Saliency vs captum, same models and inputs.

Integrated Gradients (50 Gauss-Legendre steps): captum's ``IntegratedGradients`` is first run
at several ``internal_batch_size`` settings and the fastest one is kept, so fivefold is compared
with captum at its best. "ours" is what the interpretability pillar runs: all steps of a chunk of
samples in one forward/backward, on ``inference_copy(model)`` (eval-mode batch norms folded into
their convolutions, channels-last layout; made once per model, as the pillar does, and its cost
reported as copy_s). "ours_plain" is the same batching on the unmodified model, to show where
the gain comes from. Attributions must agree within 1e-4 (asserted; the max abs difference
is printed). Both sides are then timed in alternation (ABAB) in one process so machine noise hits
both equally. Ratio = captum seconds / fivefold seconds (> 1 means fivefold is faster).

Usage: ``python benchmarks/ig_throughput.py [--repeats 7] [--threads N] [--chunk-elements N]``
(on a busy 2-core machine, 2-thread torch stalls on every pass: small chunks then lose to one
huge batch; measure on a quiet machine, or with ``--threads 1``).
"""

from __future__ import annotations

import argparse
import functools
import json
import warnings
from collections.abc import Callable, Mapping

import torch
from _common import interleaved, load_average, median, timed
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from fivefold.data import ModalityInfo, Split, Task
from fivefold.models import MODELS, build_model
from fivefold.pillars import attributions
from fivefold.pillars.interpretability.attributions import integrated_gradients, saliency
from fivefold.training.forwards import inference_copy

STEPS = 50
CAPTUM_BATCHES: tuple[int | None, ...] = (None, 50, 200, 1000)
TOLERANCE = 1e-4


def cnn_for(shape: tuple[int, int, int]) -> nn.Module:
    """fivefold's default image CNN (conv-bn-relu 32, 64) for inputs of ``shape``, eval mode."""
    torch.manual_seed(0)
    split = Split(torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long))
    info = {"x": ModalityInfo("image", shape, (0.0, 1.0))}
    task = Task("bench", {"train": split, "val": split, "test": split}, info, tuple("0123456789"))
    model = build_model(MODELS.spec({"name": "cnn"}), task)
    for m in model.modules():  # non-trivial batch-norm statistics
        if (
            isinstance(m, nn.BatchNorm2d)
            and m.running_mean is not None
            and m.running_var is not None
        ):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def inputs_for(shape: tuple[int, int, int], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def ours_ig(model: nn.Module, x: torch.Tensor, t: torch.Tensor, fast: bool = True) -> torch.Tensor:
    net = inference_copy(model) if fast else model
    return integrated_gradients(net, (x,), (torch.zeros_like(x[:1]),), t, n_steps=STEPS)[0]


def ours_saliency(
    model: nn.Module, x: torch.Tensor, t: torch.Tensor, fast: bool = True
) -> torch.Tensor:
    return saliency(inference_copy(model) if fast else model, (x,), t)[0]


def captum_ig(
    model: nn.Module, x: torch.Tensor, t: torch.Tensor, batch: int | None
) -> torch.Tensor:
    ig = IntegratedGradients(model)
    out: torch.Tensor = ig.attribute(
        x, torch.zeros_like(x[:1]), target=t, n_steps=STEPS, internal_batch_size=batch
    )
    return out


def best_captum_batch(
    model: nn.Module, x: torch.Tensor, t: torch.Tensor
) -> tuple[int | None, dict[str, float]]:
    """The fastest ``internal_batch_size`` (best of two runs each) and all timings."""
    times = {}
    for batch in CAPTUM_BATCHES:
        run = functools.partial(captum_ig, model, x, t, batch)
        times[str(batch)] = min(timed(run) for _ in range(2))
    best = min(times, key=lambda k: times[k])
    return (None if best == "None" else int(best)), times


def _timer(fn: Callable[[], object]) -> Callable[[], float]:
    return lambda: timed(fn)


def ratio_case(
    name: str, fns: Mapping[str, Callable[[], object]], repeats: int
) -> dict[str, object]:
    """Interleaved timings (ours, ours_plain, captum, ...); ratio = captum s / ours s."""
    runs = interleaved({k: _timer(f) for k, f in fns.items()}, repeats)
    ratios = [c / o for c, o in zip(runs["captum"], runs["ours"], strict=True)]
    plain = [c / o for c, o in zip(runs["captum"], runs["ours_plain"], strict=True)]
    return {"case": name, **{f"{k}_s": round(median(v), 4) for k, v in runs.items()},
            "ratio_median": round(median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
            "ratio_plain_median": round(median(plain), 3)}  # fmt: skip


def ig_case(name: str, shape: tuple[int, int, int], n: int, repeats: int) -> dict[str, object]:
    model, (x, t) = cnn_for(shape), inputs_for(shape, n)
    copy_s = min(timed(lambda: inference_copy(model)) for _ in range(3))
    fast = inference_copy(model)
    batch, sweep = best_captum_batch(model, x, t)
    reference = captum_ig(model, x, t, batch)
    diff = float((ours_ig(fast, x, t) - reference).abs().max())
    diff_plain = float((ours_ig(model, x, t) - reference).abs().max())
    assert max(diff, diff_plain) < TOLERANCE, f"{name}: attributions differ by {diff}"
    fns = {"ours": lambda: ours_ig(fast, x, t), "ours_plain": lambda: ours_ig(model, x, t),
           "captum": lambda: captum_ig(model, x, t, batch)}  # fmt: skip
    row = ratio_case(f"IG-{STEPS} {name}", fns, repeats)
    floor_s = forward_floor(fast, x)
    row["floor_s"] = round(floor_s, 4)
    row["ratio_bound"] = round(float(row["captum_s"]) / floor_s, 3)  # type: ignore[arg-type]
    extra = {"captum_internal_batch_size": batch, "captum_sweep_s": sweep, "copy_s": copy_s,
             "max_abs_diff": diff, "max_abs_diff_plain": diff_plain, "n_inputs": n}  # fmt: skip
    return row | extra


def forward_floor(model: nn.Module, x: torch.Tensor) -> float:
    """A lower bound on any exact IG-50 of ``x``: twice one no-grad forward over all its rows.

    IG needs the logits and the input gradient at all STEPS·B path points; the input-gradient
    backward of a convolution costs about as much as its forward, so no implementation that
    computes the same float32 numbers can take less than ~2 forward passes over those rows.
    The forward pass is timed at its best chunk size (best of three runs each).
    """
    rows = x.repeat(STEPS, 1, 1, 1).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    for chunk in (100, 200, 400, 800, 1600):

        def run(c: int = chunk) -> None:
            with torch.no_grad():
                for i in range(0, len(rows), c):
                    model(rows[i : i + c])

        best = min(best, *(timed(run) for _ in range(3)))
    return 2 * best


def saliency_case(
    name: str, shape: tuple[int, int, int], n: int, repeats: int
) -> dict[str, object]:
    model, (x, t) = cnn_for(shape), inputs_for(shape, n)
    fast, sal = inference_copy(model), Saliency(model)
    diff = float((ours_saliency(fast, x, t) - sal.attribute(x, target=t)).abs().max())
    assert diff < TOLERANCE, f"{name}: saliency differs by {diff}"
    fns = {"ours": lambda: ours_saliency(fast, x, t),
           "ours_plain": lambda: ours_saliency(model, x, t),
           "captum": lambda: sal.attribute(x, target=t)}  # fmt: skip
    row = ratio_case(f"saliency {name}", fns, repeats)
    return row | {"max_abs_diff": diff, "n_inputs": n}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--quick", action="store_true", help="fewer inputs, for a smoke run")
    parser.add_argument(
        "--chunk-elements", type=int, default=0, help="override fivefold's input numbers per pass"
    )
    args = parser.parse_args()
    if args.chunk_elements:
        attributions.CHUNK_ELEMENTS = args.chunk_elements
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require")
    print(
        f"load average before: {load_average():.2f}; torch threads {torch.get_num_threads()}; "
        f"fivefold chunk elements {attributions.CHUNK_ELEMENTS}"
    )
    n_small, n_large = (16, 8) if args.quick else (64, 32)
    rows = [
        ig_case("digits CNN 1x8x8", (1, 8, 8), n_small, args.repeats),
        ig_case("CNN 1x28x28", (1, 28, 28), n_large, args.repeats),
        saliency_case("digits CNN 1x8x8", (1, 8, 8), 4 * n_small, args.repeats),
        saliency_case("CNN 1x28x28", (1, 28, 28), 4 * n_large, args.repeats),
    ]
    for row in rows:
        print(json.dumps(row))
    print(f"load average after: {load_average():.2f}")


if __name__ == "__main__":
    main()
