"""Report tables of the interpretability pillar: mean faithfulness curves, and per-sample
attributions of a few examples, small enough for ``result.json``.

One row per (example, input). Attribution maps are divided by their largest magnitude (kept as
``scale``) and rounded to 4 decimals; images give HxW maps (channels summed), sequences one
curve per channel, tabular inputs one value per named feature, text one score per token.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from fivefold.data.task import Split, Task
from fivefold.data.text import WordVocab, tokenize
from fivefold.pillars.interpretability.explanations import Space
from fivefold.pillars.interpretability.faithfulness import Curves

__all__ = ["MAX_VALUES", "curve_rows", "example_rows"]

MAX_VALUES = 16_000
"""At most this many numbers over all example rows (≈ 150 kB of JSON)."""


def _rounded(t: Tensor) -> Any:
    return t.double().round(decimals=4).tolist()


def _normalised(t: Tensor) -> tuple[Any, float]:
    """(values / max |values| rounded, max |values|)."""
    top = float(t.abs().max()) if t.numel() else 0.0
    return _rounded(t / top if top > 0 else t), float(f"{top:.6g}")


def _tokens(task: Task, split: Split, i: int, ids: Tensor) -> list[str]:
    """Tokens of text ``i``: its raw words when a word vocabulary encoded it, else ``#id``."""
    kept = ids[ids != 0].tolist()
    if isinstance(task.text_encoder, WordVocab) and split.texts is not None and not task.multimodal:
        words = tokenize(split.texts[i])[: len(ids)]
        if len(words) == len(kept):
            return words
    return [f"#{t}" for t in kept]


def _text_row(
    task: Task, split: Split, space: Space, i: int, maps: dict[str, Tensor]
) -> dict[str, Any]:
    ids = torch.cat([e[i] for e in space.extra])
    keep = ids != 0
    row: dict[str, Any] = {"tokens": _tokens(task, split, i, ids)}
    if split.texts is not None:
        row["text"] = split.texts[i][:300]
    return row | _maps({m: a[keep] for m, a in maps.items()})


def _maps(maps: dict[str, Tensor]) -> dict[str, Any]:
    pairs = {m: _normalised(a) for m, a in maps.items()}
    return {
        "attributions": {m: v for m, (v, _) in pairs.items()},
        "scale": {m: s for m, (_, s) in pairs.items()},
    }


def _input_row(
    task: Task, space: Space, j: int, x: Tensor, maps: dict[str, Tensor]
) -> dict[str, Any]:
    """Row part of input ``j`` of one sample: x (per-sample shape) and unit maps."""
    kind, key = space.kinds[j], space.keys[j]
    info = task.inputs.get(key)
    names = list(info.feature_names) if info is not None else []
    row: dict[str, Any] = {"input": key, "kind": kind}
    if kind == "image":
        row["values"] = _rounded(x[0] if x.shape[0] == 1 else x)
    elif kind == "tabular":
        row |= {"features": names or [f"f{k}" for k in range(x.numel())], "values": _rounded(x)}
    else:
        row |= {"channels": names or [f"c{k}" for k in range(x.shape[0])], "values": _rounded(x)}
    return row | _maps(maps)


def _unit_maps(space: Space, unit: Mapping[str, Tensor], i: int, j: int) -> dict[str, Tensor]:
    """Input ``j``'s part of sample ``i``'s (U,) unit scores, shaped like its unit grid."""
    sizes = [_units(space, k) for k in range(len(space.inputs))]
    start = sum(math.prod(s) for s in sizes[:j])
    end = start + math.prod(sizes[j])
    return {m: u[i, start:end].reshape(sizes[j]) for m, u in unit.items()}


def _units(space: Space, j: int) -> list[int]:
    shape = list(space.inputs[j].shape[1:])
    axis = space.pool[j]
    if axis is not None:
        del shape[axis]
    return shape


def example_rows(
    task: Task,
    split: Split,
    space: Space,
    unit: Mapping[str, Tensor],
    *,
    target: Tensor,
    prob: Tensor,
    n_examples: int,
) -> list[dict[str, Any]]:
    """Rows describing the first ``n_examples`` samples (fewer if maps are large).

    Args:
        task: gives class, feature and channel names and the text encoder.
        split: the explained samples (labels, raw texts).
        space: their attribution space.
        unit: method → (B, U) unit scores.
        target: (B,) explained class per sample.
        prob: (B,) its predicted probability.
        n_examples: rows wanted.
    """
    n_units = space.valid.shape[1]
    raw = n_units if space.kinds == ("text",) else sum(x[0].numel() for x in space.inputs)
    per_sample = raw + len(unit) * n_units
    n = min(n_examples, len(target), max(1, MAX_VALUES // max(1, per_sample)))
    rows = []
    for i in range(n):
        head = {
            "example": i,
            "label": task.class_names[int(split.y[i])],
            "explained_class": task.class_names[int(target[i])],
            "probability": round(float(prob[i]), 4),
        }
        if space.kinds == ("text",):
            rows.append(head | {"input": space.keys[0], "kind": "text"})
            rows[-1] |= _text_row(task, split, space, i, {m: u[i] for m, u in unit.items()})
            continue
        for j, x in enumerate(space.inputs):
            rows.append(head | _input_row(task, space, j, x[i], _unit_maps(space, unit, i, j)))
    return rows


def curve_rows(curves: Mapping[str, Curves]) -> list[dict[str, Any]]:
    """One row per (method, curve, fraction) with the mean target probability over samples."""
    rows = []
    for method, c in curves.items():
        for kind, values in (("deletion", c.deletion), ("insertion", c.insertion)):
            means = values.mean(0).tolist()
            rows += [
                {
                    "method": method,
                    "curve": kind,
                    "fraction": round(f, 4),
                    "probability": round(p, 4),
                }
                for f, p in zip(c.fractions.tolist(), means, strict=True)
            ]
    return rows
