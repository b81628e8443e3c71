"""Synthetic drifting streams from river as arrays: SEA, Hyperplane, Agrawal and random RBF.

A stream of ``n`` samples has one concept per segment between drifts. Concepts are joined
with river's ``ConceptDriftStream``: at a drift centred at ``p`` with width ``w``, the
sample at 0-based index ``i`` comes from the new concept with probability
``1 / (1 + exp(-4 (i - p) / w))`` (river's sigmoid; its 1-based ``position`` is ``p + 1``),
so half the sample at ``p`` and nearly all from ``p + w`` on.

Several drifts nest to the left: ``CDS(CDS(CDS(c0, c1, p0), c2, p1), c3, p2)``. River
counts a nested stream's position in the samples drawn from that stream, and an inner
(older) stream is drawn for nearly every sample until the next drift begins, so every drift
lands at its absolute index. (Nesting to the right would count each later drift from the
first draw of the new concept, early in the previous transition.) The inner count lags only
by the samples that later concepts take early, about ``w/4 exp(-4 gap / w)`` in
expectation: negligible when drifts are several widths apart.

River 0.26 computes the sigmoid with ``math.exp(-4 (t - position) / width)``, which
overflows once ``4 (position - t) / width > 709`` (e.g. a sudden drift at index 200), so the
streams use :class:`SafeConceptDriftStream`, river's class with the exponent clipped: the
same random draws and the same samples wherever river's own loop does not overflow.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from river.datasets import base as river_datasets
from river.datasets import synth

from fivefold.data.task import Split
from fivefold.errors import ConfigError, did_you_mean
from fivefold.seeding import child_seed

__all__ = [
    "DRIFT_GENERATORS",
    "DriftStream",
    "SafeConceptDriftStream",
    "concept",
    "drift_probability",
    "drift_stream",
]

DriftGenerator = Literal["sea", "hyperplane", "agrawal", "rbf"]
DRIFT_GENERATORS = ("sea", "hyperplane", "agrawal", "rbf")


@dataclass(frozen=True)
class DriftStream:
    """A drifting classification stream.

    Attributes:
        x: (n, F) float32 features in stream order.
        y: (n,) int64 labels.
        drift_positions: 0-based indexes of the drift centres, increasing.
        widths: the transition width of each drift (1: sudden).
        feature_names: one name per column of ``x``.
        class_names: one name per class.
        generator: "sea", "hyperplane", "agrawal" or "rbf".
        concepts: a description of each concept, one more than drifts (e.g. "SEA(variant=1)").
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    drift_positions: tuple[int, ...]
    widths: tuple[int, ...]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    generator: str
    concepts: tuple[str, ...]

    def as_split(self) -> Split:
        """The stream as a fivefold :class:`Split` (float32 inputs, int64 labels)."""
        return Split(torch.from_numpy(self.x.copy()), torch.from_numpy(self.y.copy()))


def drift_probability(sample_idx: int, position: int, width: int) -> float:
    """River's chance that 1-based sample ``sample_idx`` comes from the drift stream,
    ``1 / (1 + exp(-4 (sample_idx - position) / width))``, with the exponent clipped to
    [-700, 700] so that it never overflows (the clipped values are 0 or 1 within 1e-304)."""
    v = -4.0 * float(sample_idx - position) / float(width)
    return 1.0 / (1.0 + math.exp(min(700.0, max(-700.0, v))))


class SafeConceptDriftStream(synth.ConceptDriftStream):
    """River's ``ConceptDriftStream`` whose sigmoid cannot overflow (see the module notes).

    The loop is river 0.26's, draw for draw; only the probability goes through
    :func:`drift_probability`.
    """

    def __iter__(self) -> Iterator[tuple[dict[Hashable, float], object]]:
        rng = random.Random(self.seed)
        stream_generator = iter(self.stream)
        drift_stream_generator = iter(self.drift_stream)
        sample_idx = 0
        while True:
            sample_idx += 1
            probability = drift_probability(sample_idx, self.position, self.width)
            try:
                if rng.random() > probability:
                    x, y = next(stream_generator)
                else:
                    x, y = next(drift_stream_generator)
            except StopIteration:
                break
            yield x, y


def _seed32(seed: int, *names: str | int) -> int:
    return child_seed(seed, "drift_stream", *names) % 2**32


def concept(generator: str, k: int, seed: int) -> tuple[river_datasets.SyntheticDataset, str]:
    """The ``k``-th concept (0-based) of a stream and its description.

    - sea: ``SEA(variant=k % 4)``: label ``x0 + x1 > 8, 9, 7, 9.5`` (no label noise).
    - hyperplane: ``Hyperplane`` with a new random hyperplane per concept (its own seed;
      10 features, 5% label noise, no incremental drift).
    - agrawal: ``Agrawal(classification_function=k % 10)``.
    - rbf: ``RandomRBF`` with new centroids per concept (2 classes, 10 features, 50
      centroids), a sudden change of both P(x) and P(y|x).

    Every concept draws its samples from its own seed ``child_seed(seed, "drift_stream",
    generator, k)``.

    Raises:
        ConfigError: unknown generator.
    """
    s = _seed32(seed, generator, k)
    if generator == "sea":
        return synth.SEA(variant=k % 4, seed=s), f"SEA(variant={k % 4})"
    if generator == "hyperplane":
        return synth.Hyperplane(seed=s), f"Hyperplane(seed={s})"
    if generator == "agrawal":
        fn = k % 10
        return synth.Agrawal(classification_function=fn, seed=s), f"Agrawal(function={fn})"
    if generator == "rbf":
        rbf = synth.RandomRBF(seed_model=s, seed_sample=_seed32(seed, generator, k, "sample"))
        return rbf, f"RandomRBF(seed_model={s})"
    raise ConfigError(
        f"drift_stream: unknown generator {generator!r}"
        f"{did_you_mean(generator, list(DRIFT_GENERATORS))}; "
        f"choose one of {', '.join(DRIFT_GENERATORS)}"
    )


def _check(generator: str, n: int, drifts: list[int], width: int) -> None:
    if generator not in DRIFT_GENERATORS:
        concept(generator, 0, 0)  # raises the unknown-generator error
    if n < 1:
        raise ConfigError(f"drift_stream: n must be >= 1, got {n}")
    increasing = all(b > a for a, b in itertools.pairwise(drifts))
    if not increasing or any(not 0 < p < n for p in drifts):
        raise ConfigError(
            f"drift_stream: drifts must be strictly increasing indexes in (0, n={n}), got {drifts}"
        )
    if width < 1:
        raise ConfigError(f"drift_stream: width must be >= 1, got {width}")


def _feature_name(key: Hashable) -> str:
    return f"x{key}" if isinstance(key, int) else str(key)


def drift_stream(
    generator: DriftGenerator, *, n: int, drifts: Sequence[int], width: int, seed: int
) -> DriftStream:
    """``n`` samples of a river generator whose concept changes at each of ``drifts``.

    Concepts are described in :func:`concept`; they are joined by nested
    ``ConceptDriftStream`` (see the module docstring for why the nesting is to the left and
    the exact meaning of a position). Features are columns in the key order of river's
    first sample (Agrawal's categorical ``elevel``, ``car`` and ``zipcode`` are kept as
    their integer codes); boolean SEA labels become 0/1.

    Args:
        generator: "sea", "hyperplane", "agrawal" or "rbf".
        n: number of samples, >= 1.
        drifts: 0-based drift centres, strictly increasing, in (0, n); empty: no drift.
        width: transition width of every drift in samples, >= 1 (1: sudden).
        seed: seed of the concepts and of the mixing.

    Returns:
        the :class:`DriftStream`.

    Raises:
        ConfigError: unknown generator, ``n < 1``, bad drift positions or ``width < 1``.

    Reference: Street & Kim, "A Streaming Ensemble Algorithm (SEA) for Large-Scale
    Classification", KDD 2001; Hulten et al., "Mining Time-Changing Data Streams", KDD 2001
    (rotating hyperplane); Agrawal et al., "Database Mining: A Performance Perspective",
    IEEE TKDE 1993; Bifet et al., "MOA: Massive Online Analysis", JMLR 2010 (random RBF,
    ConceptDriftStream).
    """
    positions = [int(p) for p in drifts]
    _check(generator, n, positions, width)
    made = [concept(generator, k, seed) for k in range(len(positions) + 1)]
    stream: river_datasets.SyntheticDataset = made[0][0]
    for k, p in enumerate(positions):
        stream = SafeConceptDriftStream(
            stream=stream,
            drift_stream=made[k + 1][0],
            position=p + 1,  # river counts samples from 1
            width=width,
            seed=_seed32(seed, generator, "mix", k),
        )
    rows = list(itertools.islice(iter(stream), n))
    keys = list(rows[0][0])
    x = np.array([[float(xi[k]) for k in keys] for xi, _ in rows], dtype=np.float32)
    y = np.array([int(yi) for _, yi in rows], dtype=np.int64)
    n_classes = int(made[0][0].n_classes or 2)
    return DriftStream(
        x=x,
        y=y,
        drift_positions=tuple(positions),
        widths=(width,) * len(positions),
        feature_names=tuple(_feature_name(k) for k in keys),
        class_names=tuple(str(c) for c in range(n_classes)),
        generator=generator,
        concepts=tuple(desc for _, desc in made),
    )
