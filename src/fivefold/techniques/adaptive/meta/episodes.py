"""Few-shot episodes: disjoint meta-train / meta-test classes and N-way K-shot sampling.

An episode (a "task") picks ``ways`` classes, relabels them ``0..ways-1`` in a random order and
draws ``shots`` support rows and ``queries`` query rows of each, without replacement. Rows are
laid out class-major: support row ``j * shots + s`` is shot ``s`` of relabelled class ``j``
(likewise for the query rows), so ``support_y`` is ``[0]*shots + [1]*shots + ...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fivefold.errors import ConfigError
from fivefold.seeding import torch_generator

__all__ = ["Episode", "EpisodeSampler", "as_episodes", "split_classes", "stack_episodes"]


@dataclass(frozen=True)
class Episode:
    """One episode, or a stack of ``E`` episodes of equal sizes (for ``vmap``).

    Attributes:
        support_x: (S, ...) support inputs, or (E, S, ...) for a batch; S = ways * shots.
        support_y: (S,) int64 labels in ``0..ways-1`` (regression: float targets), or (E, S).
        query_x: (Q, ...) query inputs, or (E, Q, ...); Q = ways * queries.
        query_y: (Q,) labels or targets, or (E, Q).
        classes: (ways,) original class id of each relabelled class (label ``j`` is
            ``classes[j]``), or (E, ways); (0,) or (E, 0) for regression tasks.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor

    @property
    def batched(self) -> bool:
        """Whether this is a stack of episodes (``classes`` is 2-D)."""
        return self.classes.dim() == 2

    def __len__(self) -> int:
        """Number of episodes (1 for a single episode)."""
        return len(self.classes) if self.batched else 1

    def unbatch(self) -> list[Episode]:
        """The single episodes of a batch (a one-element list for a single episode)."""
        if not self.batched:
            return [self]
        parts = (self.support_x, self.support_y, self.query_x, self.query_y, self.classes)
        return [Episode(*(p[i] for p in parts)) for i in range(len(self))]


def stack_episodes(episodes: Sequence[Episode]) -> Episode:
    """Stack single episodes of equal sizes into one batched :class:`Episode`.

    Args:
        episodes: single (unbatched) episodes with identical shapes.

    Returns:
        the batch, every tensor with a new leading (E,) dimension.

    Raises:
        ConfigError: when the list is empty or holds a batched episode.
    """
    if not episodes or any(e.batched for e in episodes):
        raise ConfigError("stack_episodes: give one or more single episodes; got none or a batch")
    return Episode(
        torch.stack([e.support_x for e in episodes]),
        torch.stack([e.support_y for e in episodes]),
        torch.stack([e.query_x for e in episodes]),
        torch.stack([e.query_y for e in episodes]),
        torch.stack([e.classes for e in episodes]),
    )


def as_episodes(episodes: Episode | Sequence[Episode]) -> list[Episode]:
    """Single episodes from a batch, a single episode, or a sequence of either.

    Args:
        episodes: what an evaluation function was given.

    Returns:
        the single episodes, in order.
    """
    if isinstance(episodes, Episode):
        return episodes.unbatch()
    return [single for e in episodes for single in e.unbatch()]


def split_classes(
    n_classes: int, n_test: int, seed: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Split class ids ``0..n_classes-1`` into disjoint meta-train and meta-test classes.

    Args:
        n_classes: number of classes in the data.
        n_test: how many go to meta-test (1 to ``n_classes - 1``).
        seed: which random split.

    Returns:
        (meta-train classes, meta-test classes), each sorted.

    Raises:
        ConfigError: when ``n_test`` leaves either side empty.
    """
    if not 1 <= n_test < n_classes:
        raise ConfigError(
            f"split_classes: n_test={n_test} must be between 1 and n_classes - 1 = "
            f"{n_classes - 1}; lower n_test or use data with more classes"
        )
    order = torch.randperm(n_classes, generator=torch_generator(seed, "meta-classes")).tolist()
    return tuple(sorted(order[n_test:])), tuple(sorted(order[:n_test]))


def _rows_by_class(y: torch.Tensor, classes: Sequence[int]) -> dict[int, torch.Tensor]:
    """Row indices of each class in ``classes``."""
    return {c: torch.nonzero(y == c).flatten() for c in classes}


class EpisodeSampler:
    """Draws N-way K-shot episodes from the rows whose label is in ``classes``.

    Args:
        x: (N, ...) inputs of the support pool (and of the query pool unless ``query_x`` is
            given).
        y: (N,) integer labels of ``x``.
        classes: the class ids episodes may use (e.g. the meta-train classes).
        ways: classes per episode.
        shots: support rows per class.
        queries: query rows per class.
        seed: the random stream; the same seed gives the same sequence of episodes.
        query_x: optional separate query pool (e.g. the test split while the support comes
            from the train split); None draws support and query from ``x`` without overlap.
        query_y: labels of ``query_x``.

    Raises:
        ConfigError: on a bad size, when ``ways`` exceeds the classes, or when a class has too
            few rows.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        classes: Sequence[int],
        *,
        ways: int,
        shots: int,
        queries: int,
        seed: int,
        query_x: torch.Tensor | None = None,
        query_y: torch.Tensor | None = None,
    ) -> None:
        self.classes = tuple(int(c) for c in classes)
        self.ways, self.shots, self.queries = ways, shots, queries
        _check_sizes(len(self.classes), ways, shots, queries)
        if (query_x is None) != (query_y is None):
            raise ConfigError("EpisodeSampler: give query_x and query_y together, or neither")
        self.x, self.y = x, y
        self.separate = query_x is not None
        self.query_x = x if query_x is None else query_x
        self.query_y = y if query_y is None else query_y
        if len(x) != len(y) or len(self.query_x) != len(self.query_y):
            raise ConfigError("EpisodeSampler: x and y (and query_x, query_y) need equal lengths")
        self.rows = _rows_by_class(y, self.classes)
        self.query_rows = _rows_by_class(self.query_y, self.classes) if self.separate else {}
        self._check_rows()
        self.generator = torch_generator(seed, "episodes")

    def _check_rows(self) -> None:
        """ConfigError naming the first class with too few rows in its pool."""
        need = self.shots if self.separate else self.shots + self.queries
        pools = [(self.rows, need, "support" if self.separate else "")]
        if self.separate:
            pools.append((self.query_rows, self.queries, "query"))
        for rows, want, pool in pools:
            for c, idx in rows.items():
                if len(idx) < want:
                    where = f" in the {pool} pool" if pool else ""
                    raise ConfigError(
                        f"EpisodeSampler: class {c} has {len(idx)} rows{where} but an episode "
                        f"needs {want}; lower shots/queries or leave class {c} out of classes"
                    )

    def sample(self) -> Episode:
        """One episode: (ways*shots, ...) support and (ways*queries, ...) query tensors."""
        g = self.generator
        picked = torch.randperm(len(self.classes), generator=g)[: self.ways].tolist()
        classes = [self.classes[i] for i in picked]  # label j ↔ classes[j]
        support: list[torch.Tensor] = []
        query: list[torch.Tensor] = []
        for c in classes:
            rows = self.rows[c][torch.randperm(len(self.rows[c]), generator=g)]
            support.append(rows[: self.shots])
            if self.separate:
                pool = self.query_rows[c]
                query.append(pool[torch.randperm(len(pool), generator=g)[: self.queries]])
            else:
                query.append(rows[self.shots : self.shots + self.queries])
        s_idx, q_idx = torch.cat(support), torch.cat(query)
        labels = torch.arange(self.ways)
        return Episode(
            self.x[s_idx],
            labels.repeat_interleave(self.shots),
            self.query_x[q_idx],
            labels.repeat_interleave(self.queries),
            torch.tensor(classes, dtype=torch.int64),
        )

    def sample_batch(self, n: int) -> Episode:
        """``n`` episodes stacked: (n, ways*shots, ...) support, (n, ways*queries, ...) query.

        Args:
            n: number of episodes (1 or more).

        Returns:
            the batched episode.

        Raises:
            ConfigError: when ``n`` is below 1.
        """
        if n < 1:
            raise ConfigError(f"EpisodeSampler.sample_batch: n={n} must be 1 or more")
        return stack_episodes([self.sample() for _ in range(n)])


def _check_sizes(n_classes: int, ways: int, shots: int, queries: int) -> None:
    """ConfigError on episode sizes no sampler can honour."""
    for name, value in (("ways", ways), ("shots", shots), ("queries", queries)):
        if value < 1:
            raise ConfigError(f"EpisodeSampler: {name}={value} must be 1 or more")
    if ways > n_classes:
        raise ConfigError(
            f"EpisodeSampler: ways={ways} exceeds the {n_classes} classes given; lower ways or "
            "pass more classes"
        )
