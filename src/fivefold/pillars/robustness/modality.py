"""Missing- and noisy-modality slices: accuracy with one input of a multi-input task replaced.

For a task with two or more inputs (``split.x`` a dict), every input in turn is, while the
others stay clean:

- ``zero``: set to 0 (for text: every token set to the padding id 0) — the modality is missing;
- ``mean``: replaced by its training-split mean at every position (feature, channel x time
  step, channel x pixel) — mean imputation; token ids have no mean, so text inputs skip it;
- ``noise``: gaussian noise added with std = level x the input's training std, per tabular
  feature or per channel (over samples and positions), clamped to the input's bounds; one-hot
  columns stay exact so every row remains a valid encoding. For text: each real token is
  replaced, with probability = the edit rate, by a token drawn by its training frequency
  (:func:`fivefold.transforms.text.replace_tokens`).

Each slice is one table row (input, kind, level, accuracy, drop vs clean accuracy). The noise
is drawn from generators seeded by :func:`fivefold.seeding.torch_generator`, so the same seed
gives the same rows. The model is reached only through the :class:`Subject`.

Reference: Ma et al., "Are Multimodal Transformers Robust to Missing Modality?", CVPR 2022
(missing-modality evaluation); Hendrycks & Dietterich, ICLR 2019 (gaussian noise).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fivefold.data.task import ModalityInfo, Split, Task, TextEncoder
from fivefold.seeding import torch_generator
from fivefold.training.subject import Subject
from fivefold.transforms.common import gaussian_noise
from fivefold.transforms.text import replace_tokens

__all__ = [
    "ModalitySettings",
    "channel_std",
    "mean_input",
    "modality_metrics",
    "modality_rows",
    "noisy_input",
    "token_weights",
    "zero_input",
]

Row = dict[str, Any]


@dataclass(frozen=True)
class ModalitySettings:
    """Levels of the noisy-modality slices (see ``RobustnessConfig`` for the meaning).

    Attributes:
        noise_levels: gaussian std in units of each input's training std; () skips.
        edit_rates: token replacement probabilities of text inputs; () skips.
    """

    noise_levels: tuple[float, ...] = (0.5, 1.0)
    edit_rates: tuple[float, ...] = (0.2, 0.5)


def zero_input(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) zeros like ``x``: a missing input (all padding id 0 for token ids)."""
    return torch.zeros_like(x)


def mean_input(x: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """``x`` (N, ...) replaced by the mean of ``train`` (M, ...) at every position.

    Returns:
        (N, ...) copies of the (...) training mean, in ``x``'s dtype.
    """
    mean = train.double().mean(dim=0).to(x.dtype)  # (...)
    return mean.expand_as(x).clone()


def channel_std(train: torch.Tensor) -> torch.Tensor:
    """Std of every feature or channel (dim 1) of ``train`` (M, C, ...) over all other dims.

    Returns:
        (1, C, 1, ...) population stds, broadcastable to the inputs.
    """
    dims = [d for d in range(train.dim()) if d != 1]
    shape = [1, train.shape[1]] + [1] * (train.dim() - 2)
    return train.double().std(dim=dims, correction=0).reshape(shape).to(train.dtype)


def _numeric_mask(info: ModalityInfo, x: torch.Tensor) -> torch.Tensor | None:
    """(F,) 1 on numeric columns and 0 on one-hot ones of a tabular input, else None."""
    onehot = [i for group in info.categorical for i in group]
    if info.kind != "tabular" or not onehot:
        return None
    mask = torch.ones(x.shape[1], dtype=x.dtype)
    mask[onehot] = 0
    return mask


def noisy_input(
    x: torch.Tensor,
    train: torch.Tensor,
    info: ModalityInfo,
    level: float,
    gen: torch.Generator,
) -> torch.Tensor:
    """``x`` (N, C, ...) plus gaussian noise of std ``level`` x the training std per channel.

    One-hot columns of a tabular input stay exact; the result is clamped to ``info.bounds``.

    Returns:
        (N, C, ...) noisy inputs in ``x``'s dtype.
    """
    std = channel_std(train).to(x.dtype)
    out = gaussian_noise(x, std, gen, strength=level, where=_numeric_mask(info, x))
    return out.clamp(*info.bounds) if info.bounds is not None else out


def token_weights(
    train_ids: torch.Tensor, vocab_size: int, encoder: TextEncoder | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """What text noise may touch and draw, from the (M, L) training token ids.

    Returns:
        protected: (V,) bool, padding 0 and the special ids an empty text encodes to;
        weights: (V,) sampling weights of replacement ids, their training counts (uniform over
        the unprotected ids when the training split has no tokens).
    """
    size = max(vocab_size, int(train_ids.max()) + 1 if train_ids.numel() else 1, 2)
    protected = torch.zeros(size, dtype=torch.bool)
    protected[0] = True
    if encoder is not None:
        special = encoder([""]).flatten()
        protected[special[special < size]] = True
    weights = torch.bincount(train_ids.flatten(), minlength=size)[:size].double()
    weights[protected] = 0.0
    if float(weights.sum()) == 0.0:
        weights = (~protected).double()
    return protected, weights


def _replacements(
    key: str,
    x: torch.Tensor,
    train: torch.Tensor,
    task: Task,
    settings: ModalitySettings,
    seed: int,
) -> list[tuple[str, float | None, torch.Tensor]]:
    """(kind, level, replaced input) of every slice of input ``key``."""
    info = task.inputs[key]
    out: list[tuple[str, float | None, torch.Tensor]] = [("zero", None, zero_input(x))]
    if info.kind == "text":
        protected, weights = token_weights(train, info.vocab_size, task.text_encoder)
        for rate in settings.edit_rates:
            gen = torch_generator(seed, "modality", key, "noise", rate)
            out.append(("noise", rate, replace_tokens(x, rate, gen, protected, weights)))
        return out
    out.append(("mean", None, mean_input(x, train)))
    for level in settings.noise_levels:
        gen = torch_generator(seed, "modality", key, "noise", level)
        out.append(("noise", level, noisy_input(x, train, info, level, gen)))
    return out


def modality_rows(
    subject: Subject,
    split: Split,
    task: Task,
    settings: ModalitySettings,
    *,
    clean: float,
    seed: int,
) -> tuple[list[Row], list[str]]:
    """One row per input, kind and level: {"input", "kind", "level", "accuracy", "drop"}.

    Args:
        subject: the model under evaluation.
        split: the evaluated samples; ``split.x`` a dict of two or more inputs, else nothing
            is evaluated.
        task: gives the inputs' modality info, the training split and the text encoder.
        settings: the noise levels and text edit rates.
        clean: the subject's accuracy on ``split`` unchanged (``drop`` = clean - accuracy).
        seed: the experiment seed (each noise generator is a child of it).

    Returns:
        the rows (``level`` is None for zero and mean), and a note per text input, whose mean
        replacement is skipped; both empty for a single-input task.
    """
    if not isinstance(split.x, dict) or len(split.x) < 2:
        return [], []
    train = task.train.x
    assert isinstance(train, dict)
    rows: list[Row] = []
    notes: list[str] = []
    for key, x in split.x.items():
        if task.inputs[key].kind == "text":
            notes.append(
                f"missing-modality slices: mean replacement does not apply to text input "
                f"{key!r} (token ids have no mean); it was skipped"
            )
        for kind, level, replaced in _replacements(key, x, train[key], task, settings, seed):
            pred = subject.predict({**split.x, key: replaced})
            acc = float((pred == split.y).float().mean()) if len(split) else 0.0
            rows.append(
                {"input": key, "kind": kind, "level": level, "accuracy": acc, "drop": clean - acc}
            )
    return rows, notes


def modality_metrics(rows: Sequence[Row]) -> dict[str, float]:
    """Metrics of the modality rows (every one an accuracy: higher is better).

    ``missing_<input>_accuracy`` (zeroed), ``mean_filled_<input>_accuracy`` (mean replaced),
    ``noisy_<input>_accuracy@<level>``, and ``worst_missing_modality_accuracy``, the lowest
    accuracy with one input missing; nothing for no rows.
    """
    names = {"zero": "missing_{}_accuracy", "mean": "mean_filled_{}_accuracy"}
    m: dict[str, float] = {}
    for r in rows:
        if r["kind"] == "noise":
            m[f"noisy_{r['input']}_accuracy@{r['level']:g}"] = r["accuracy"]
        else:
            m[names[r["kind"]].format(r["input"])] = r["accuracy"]
    missing = [r["accuracy"] for r in rows if r["kind"] == "zero"]
    if missing:
        m["worst_missing_modality_accuracy"] = min(missing)
        m["mean_missing_modality_accuracy"] = statistics.fmean(missing)
    return m
