"""A replay buffer filled by reservoir sampling (Vitter's Algorithm R).

After ``N`` samples have streamed past, each of them is in the buffer with probability
``capacity / N`` (all of them while ``N <= capacity``), whatever the batch sizes were.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch

from fivefold.data.task import Inputs, index_inputs, input_length
from fivefold.errors import DataError

__all__ = ["ReservoirBuffer", "ReservoirState"]


class ReservoirState(TypedDict):
    """What the buffer holds: samples seen since the last clear, and the stream index (0-based,
    counted over every sample ever added) of the sample in each filled slot."""

    capacity: int
    seen: int
    ids: list[int]


def _empty_like(x: torch.Tensor, capacity: int) -> torch.Tensor:
    return torch.empty((capacity, *x.shape[1:]), dtype=x.dtype, device=x.device)


class ReservoirBuffer:
    """A fixed-size uniform sample of a stream of (x, y) rows.

    Algorithm R: the ``i``-th sample seen (0-based) fills slot ``i`` while ``i < capacity``;
    after that an integer ``j`` is drawn uniformly from ``0..i`` and, when ``j < capacity``,
    the sample replaces slot ``j``. The draws come from ``numpy.random.default_rng(seed)``,
    one per sample past the capacity and in stream order, so the same samples in the same
    order give the same buffer for the same seed, however they are batched.

    Inputs are a tensor or a dict of tensors (fivefold ``Inputs``); the first batch fixes
    the keys, per-row shapes, dtypes and device of the storage.

    Args:
        capacity: the number of slots, >= 1.
        seed: seed of the replacement draws.

    Raises:
        ValueError: ``capacity < 1``.

    Reference: Vitter, "Random Sampling with a Reservoir", ACM TOMS 1985 (Algorithm R);
    Chaudhry et al., "On Tiny Episodic Memories in Continual Learning", 2019 (reservoir
    replay).
    """

    def __init__(self, capacity: int, seed: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._rng = np.random.default_rng(seed)
        self._x: Inputs | None = None
        self._y: torch.Tensor | None = None
        self._ids = np.zeros(capacity, dtype=np.int64)
        self._filled = 0
        self._seen = 0
        self._total = 0

    def __len__(self) -> int:
        return self._filled

    @property
    def seen(self) -> int:
        """Samples added since the buffer was created or last cleared."""
        return self._seen

    def _allocate(self, x: Inputs, y: torch.Tensor) -> None:
        if isinstance(x, dict):
            self._x = {k: _empty_like(v, self.capacity) for k, v in x.items()}
        else:
            self._x = _empty_like(x, self.capacity)
        self._y = _empty_like(y, self.capacity)

    def _check(self, x: Inputs, y: torch.Tensor) -> None:
        stored = self._x
        if isinstance(stored, dict) != isinstance(x, dict) or (
            isinstance(stored, dict) and isinstance(x, dict) and set(stored) != set(x)
        ):
            raise DataError("replay buffer: a batch's input keys differ from the first batch's")
        pairs = (
            [(stored[k], x[k]) for k in x]
            if isinstance(stored, dict) and isinstance(x, dict)
            else [(stored, x)]
        )
        assert self._y is not None
        for have, new in [*pairs, (self._y, y)]:
            assert isinstance(have, torch.Tensor) and isinstance(new, torch.Tensor)
            if have.shape[1:] != new.shape[1:]:
                raise DataError(
                    f"replay buffer: rows of shape {tuple(new.shape[1:])} do not match the "
                    f"stored {tuple(have.shape[1:])}; add rows of one shape"
                )

    def _write(self, slots: torch.Tensor, x: Inputs, y: torch.Tensor, rows: torch.Tensor) -> None:
        assert self._x is not None and self._y is not None
        if isinstance(self._x, dict):
            assert isinstance(x, dict)
            for k, v in self._x.items():
                v[slots.to(v.device)] = x[k][rows].to(v.dtype)
        else:
            assert isinstance(x, torch.Tensor)
            self._x[slots.to(self._x.device)] = x[rows].to(self._x.dtype)
        self._y[slots.to(self._y.device)] = y[rows].to(self._y.dtype)

    def add(self, x: Inputs, y: torch.Tensor) -> None:
        """Offer a batch of rows to the buffer, one by one in row order (Algorithm R).

        Args:
            x: (B, ...) inputs, a tensor or a dict of tensors.
            y: (B,) labels.

        Raises:
            DataError: the batch's keys or per-row shapes differ from the first batch's, or
                ``x`` and ``y`` have different lengths.
        """
        m = len(y)
        if input_length(x) != m:
            raise DataError(f"replay buffer: {input_length(x)} inputs but {m} labels in a batch")
        if m == 0:
            return
        if self._x is None:
            self._allocate(x, y)
        else:
            self._check(x, y)
        x = {k: v.detach() for k, v in x.items()} if isinstance(x, dict) else x.detach()
        y = y.detach()
        counts = np.arange(self._seen, self._seen + m)  # i for each row
        fill = counts < self.capacity
        slots = counts.copy()
        if not fill.all():
            late = ~fill
            slots[late] = self._rng.integers(0, counts[late] + 1)
        keep = slots < self.capacity
        # Later rows overwrite earlier ones in the same slot: keep each slot's last writer.
        last: dict[int, int] = {}
        for row in np.flatnonzero(keep).tolist():
            last[int(slots[row])] = row
        if last:
            slot_idx = torch.tensor(list(last), dtype=torch.long)
            row_idx = torch.tensor(list(last.values()), dtype=torch.long)
            self._write(slot_idx, x, y, row_idx)
            self._ids[slot_idx.numpy()] = self._total + row_idx.numpy()
        self._filled = min(self.capacity, self._seen + m)
        self._seen += m
        self._total += m

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Inputs, torch.Tensor]:
        """``min(n, len(self))`` distinct stored rows, uniformly without replacement.

        Args:
            n: rows wanted, >= 0.
            generator: the draw's generator (None: torch's global stream).

        Returns:
            (x, y) in the stored layout (a tensor or a dict), on the storage device.

        Raises:
            ValueError: the buffer is empty or ``n < 0``.
        """
        if self._x is None or self._y is None or self._filled == 0:
            raise ValueError("cannot sample from an empty replay buffer; add rows first")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        idx = torch.randperm(self._filled, generator=generator)[: min(n, self._filled)]
        x = index_inputs(self._x, idx.to(self._y.device))
        return x, self._y[idx.to(self._y.device)]

    def clear(self) -> None:
        """Empty the buffer; the next ``capacity`` rows fill it again (``seen`` restarts at 0).

        The random stream goes on, so a cleared buffer stays deterministic given the seed.
        """
        self._filled = 0
        self._seen = 0

    def contents(self) -> tuple[Inputs, torch.Tensor]:
        """All stored rows, in slot order (copies).

        Raises:
            ValueError: the buffer is empty.
        """
        if self._x is None or self._y is None or self._filled == 0:
            raise ValueError("the replay buffer is empty; add rows first")
        part = slice(0, self._filled)
        x = index_inputs(self._x, part)
        x = {k: v.clone() for k, v in x.items()} if isinstance(x, dict) else x.clone()
        return x, self._y[part].clone()

    def state(self) -> ReservoirState:
        """Capacity, samples seen since the last clear and the stream index in each slot."""
        return ReservoirState(
            capacity=self.capacity,
            seen=self._seen,
            ids=[int(i) for i in self._ids[: self._filled]],
        )
