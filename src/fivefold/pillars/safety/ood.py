"""Out-of-distribution sets for the safety pillar (shift splits, noise or another dataset) and
the OOD scores a subject supports.

The ``pillars.safety.ood`` option names the set: "auto", "none", "shift" (all shift splits),
"shift:<name>" (one of them), "noise" (random inputs of the test shape) or a built-in dataset
whose test inputs are fitted to the task's input shape (images only; other modalities must
match exactly).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fivefold.data import DATASETS, DataConfig, load_task
from fivefold.data.task import Inputs, ModalityInfo, Split, Task, index_inputs, input_length
from fivefold.errors import ConfigError, FivefoldError
from fivefold.pillars import metrics as M
from fivefold.pillars.base import Subject
from fivefold.registry import did_you_mean
from fivefold.seeding import torch_generator

__all__ = [
    "KEYWORDS",
    "OodSet",
    "build_ood_set",
    "check_ood_option",
    "ood_scores",
    "resize_images",
]

Score = Callable[[M.Array], M.Array]

FIELD = "pillars.safety.ood"
KEYWORDS = ("auto", "none", "noise", "shift")


@dataclass(frozen=True)
class OodSet:
    """Inputs to score as out-of-distribution, and a description of where they come from."""

    source: str
    x: Inputs


def check_ood_option(value: str) -> None:
    """Raise ValueError unless ``value`` is a keyword, "shift:<name>" or a registered dataset."""
    if value in KEYWORDS or value.startswith("shift:") or value in DATASETS:
        return
    allowed = [*KEYWORDS, "shift:<name>", *DATASETS.names()]
    raise ValueError(
        f"ood: {value!r} is not allowed{did_you_mean(value, allowed)}; allowed: "
        + ", ".join(allowed)
    )


def _noise_ok(task: Task) -> bool:
    """Whether noise can be drawn for every input (text needs a vocabulary beyond pad/unk)."""
    return all(i.kind != "text" or i.vocab_size > 2 for i in task.inputs.values())


def _bounded(task: Task) -> bool:
    """Whether every input has a natural noise distribution (bounded, or text tokens)."""
    return all(i.bounds is not None or i.kind == "text" for i in task.inputs.values())


def _resolve(option: str, task: Task) -> str | None:
    """The concrete source of ``option``: "auto" becomes "shift", "noise" or None (skip)."""
    if option != "auto":
        return None if option == "none" else option
    if task.shifts:
        return "shift"
    return "noise" if _bounded(task) and _noise_ok(task) else None


def _subsample(x: Inputs, max_samples: int, gen: torch.Generator) -> Inputs:
    """A seeded random subset of at most ``max_samples`` rows, in their original order."""
    n = input_length(x)
    if n <= max_samples:
        return x
    return index_inputs(x, torch.randperm(n, generator=gen)[:max_samples].sort().values)


def _concat(parts: list[Inputs]) -> Inputs:
    """Stack the rows of several inputs (tensors or modality dicts with the same keys)."""
    first = parts[0]
    if isinstance(first, dict):
        return {k: torch.cat([p[k] for p in parts if isinstance(p, dict)]) for k in first}
    return torch.cat([p for p in parts if isinstance(p, torch.Tensor)])


def _shift_inputs(source: str, task: Task) -> Inputs | None:
    """Inputs of all shift splits ("shift") or one ("shift:<name>"); None if there are none."""
    if source == "shift":
        splits = [s.x for s in task.shifts.values() if len(s) > 0]
        return _concat(splits) if splits else None
    name = source.removeprefix("shift:")
    if name not in task.shifts:
        allowed = ", ".join(task.shifts) or "none (the task has no shift splits)"
        raise ConfigError(f"{FIELD}: unknown shift split {name!r}; allowed: {allowed}")
    return task.shifts[name].x


def _noise_tensor(
    info: ModalityInfo, ref: torch.Tensor, n: int, gen: torch.Generator
) -> torch.Tensor:
    """(n, ...) noise like ``ref``: token ids, uniform in the bounds, or a matched gaussian.

    Text gets random token ids where a random test row has tokens (its padding is kept);
    bounded inputs are uniform in the bounds; unbounded ones are gaussian with the
    per-coordinate mean and std of ``ref``.
    """
    shape = (n, *ref.shape[1:])
    if info.kind == "text":
        rows = ref[torch.randint(len(ref), (n,), generator=gen)]
        tokens = torch.randint(2, info.vocab_size, shape, generator=gen, dtype=ref.dtype)
        return torch.where(rows != 0, tokens, torch.zeros_like(rows))
    if info.bounds is not None:
        lo, hi = info.bounds
        return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=ref.dtype)
    ref64 = ref.double()
    std = ref64.std(dim=0) if len(ref) > 1 else torch.ones(shape[1:], dtype=torch.float64)
    noise = ref64.mean(dim=0) + std * torch.randn(shape, generator=gen, dtype=torch.float64)
    return noise.to(ref.dtype)


def _noise_inputs(task: Task, n: int, gen: torch.Generator) -> Inputs:
    """Noise inputs shaped like the test inputs, one tensor per input key."""
    x = task.test.x
    if isinstance(x, dict):
        return {k: _noise_tensor(task.inputs[k], v, n, gen) for k, v in x.items()}
    return _noise_tensor(task.inputs["x"], x, n, gen)


def resize_images(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Fit images to a (C, H, W) shape: average the channels (then repeat) and resize.

    Args:
        x: (N, C', H', W') images.
        shape: the target per-sample (C, H, W).

    Returns:
        (N, C, H, W) float images (bilinear interpolation, ``align_corners=False``).
    """
    c, h, w = shape
    out = x.float()
    if out.shape[1] != c:
        out = out.mean(dim=1, keepdim=True).expand(-1, c, -1, -1)
    if tuple(out.shape[2:]) != (h, w):
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    return out.contiguous()


@functools.lru_cache(maxsize=2)
def _load_test(name: str) -> tuple[Split, Mapping[str, ModalityInfo]]:
    """The test split and input info of built-in dataset ``name`` (cached across trials)."""
    try:
        other = load_task(DataConfig(dataset=name))
    except FivefoldError as err:
        raise ConfigError(f"{FIELD}: cannot load dataset {name!r}: {err}") from None
    return other.test, other.inputs


def _fit_input(
    name: str, key: str, x: torch.Tensor, src: ModalityInfo, dst: ModalityInfo
) -> torch.Tensor:
    """One OOD input fitted to the task: images resized, anything else must match exactly."""
    if src.kind == dst.kind == "image":
        out = resize_images(x, dst.shape)
        return out.clamp(*dst.bounds) if dst.bounds is not None else out
    if src.kind != dst.kind or tuple(x.shape[1:]) != dst.shape:
        raise ConfigError(
            f"{FIELD}: dataset {name!r} input {key!r} is {src.kind} {tuple(x.shape[1:])}, but "
            f"the task needs {dst.kind} {dst.shape}; use 'noise', 'shift' or a dataset of the "
            "same shape (images of any size are resized)"
        )
    return x


def _dataset_inputs(name: str, task: Task, max_samples: int, gen: torch.Generator) -> Inputs:
    """Test inputs of dataset ``name`` (subsampled), fitted to the task's inputs."""
    test, inputs = _load_test(name)
    test = test.subset(torch.randperm(len(test), generator=gen)[:max_samples].sort().values)
    if task.text_encoder is not None and test.texts is not None and not task.multimodal:
        return task.text_encoder(test.texts)
    if set(inputs) != set(task.inputs):
        raise ConfigError(
            f"{FIELD}: dataset {name!r} has inputs {sorted(inputs)}, the task needs "
            f"{sorted(task.inputs)}"
        )
    xs = test.x if isinstance(test.x, dict) else {"x": test.x}
    fitted = {k: _fit_input(name, k, xs[k], inputs[k], task.inputs[k]) for k in task.inputs}
    return fitted if isinstance(task.test.x, dict) else fitted["x"]


def build_ood_set(
    option: str, task: Task, seed: int, max_samples: int
) -> tuple[OodSet | None, str | None]:
    """The OOD set named by ``option``, or a note saying why OOD detection is skipped.

    Args:
        option: the ``pillars.safety.ood`` value.
        task: the task (its test inputs are the in-distribution set).
        seed: seeds the noise and the subsampling.
        max_samples: most OOD samples returned.

    Returns:
        (set, None), or (None, note) when there is nothing to compare against.

    Raises:
        ConfigError: an unknown shift split, or a dataset that cannot fit the task's inputs.
    """
    source = _resolve(option, task)
    gen = torch_generator(seed, "safety", "ood", option)
    if source is None:
        why = "ood = 'none'" if option == "none" else "no shift splits and unbounded inputs"
        return None, f"OOD detection skipped ({why}); set {FIELD} to 'noise' or a dataset"
    if source == "noise":
        if not _noise_ok(task):
            return None, "OOD detection skipped: text inputs without a vocabulary for 'noise'"
        n = min(len(task.test), max_samples)
        return OodSet("noise", _noise_inputs(task, n, gen)), None
    if source.startswith("shift"):
        x = _shift_inputs(source, task)
        if x is None:
            return None, f"OOD detection skipped: {FIELD} = 'shift' but the task has no shifts"
        return OodSet(source, _subsample(x, max_samples, gen)), None
    return OodSet(f"dataset:{source}", _dataset_inputs(source, task, max_samples, gen)), None


def ood_scores(subject: Subject, notes: list[str]) -> dict[str, Score]:
    """OOD score name → score of (N, C) logits: max-softmax, and energy where logits exist."""
    scores: dict[str, Score] = {"msp": M.max_softmax_score, "energy": M.energy_score}
    if not subject.has_logits:
        # the energy of log-probabilities is log Σ p = 0 for every input: no score at all
        del scores["energy"]
        notes.append(
            "energy OOD score skipped: the subject averages its members' probabilities and "
            "has no logits"
        )
    return scores
