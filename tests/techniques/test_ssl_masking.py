"""Masks of the ssl technique hide exactly the requested share of units, for every modality."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.data.task import ModalityInfo
from fivefold.techniques.ssl.masking import (
    MaskedModelling,
    feature_units,
    input_mask,
    patch_mask,
    segment_mask,
    token_mask,
    unit_mask,
)

ratios = st.floats(min_value=0.01, max_value=0.95)


def assert_exact_share(count: int, n: int, ratio: float) -> None:
    """``count`` of ``n`` units is the share ``ratio`` up to rounding, leaving one visible."""
    if n == 0:
        assert count == 0
        return
    if n == 1:
        assert count == 1
        return
    assert 1 <= count <= n - 1
    target = ratio * n
    if 1 < count < n - 1:  # not clipped: the nearest integer to ratio · n
        assert abs(count - target) <= 0.5 + 1e-9
    elif count == 1 and n > 2:  # clipped up to one unit, or rounded to it
        assert target <= 1.5 + 1e-9
    elif count == n - 1 and n > 2:  # clipped down so that one unit stays visible
        assert target >= n - 1.5 - 1e-9


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 6), n=st.integers(1, 40), ratio=ratios, seed=st.integers(0, 99))
def test_unit_mask_hides_the_ratio_in_every_row(
    batch: int, n: int, ratio: float, seed: int
) -> None:
    mask = unit_mask(batch, n, ratio, torch.Generator().manual_seed(seed))
    assert mask.shape == (batch, n)
    counts = mask.sum(dim=1).tolist()
    assert len(set(counts)) == 1
    assert_exact_share(counts[0], n, ratio)


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 4),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    patch=st.integers(1, 5),
    ratio=ratios,
    seed=st.integers(0, 99),
)
def test_patch_mask_hides_whole_patches_at_the_ratio(
    batch: int, height: int, width: int, patch: int, ratio: float, seed: int
) -> None:
    mask = patch_mask(batch, (height, width), patch, ratio, torch.Generator().manual_seed(seed))
    assert mask.shape == (batch, height, width)
    cells_per_row = [range(r, min(r + patch, height)) for r in range(0, height, patch)]
    cells_per_col = [range(c, min(c + patch, width)) for c in range(0, width, patch)]
    n_cells = len(cells_per_row) * len(cells_per_col)
    for b in range(batch):
        masked_cells = 0
        for rows in cells_per_row:
            for cols in cells_per_col:
                values = {bool(mask[b, r, c]) for r in rows for c in cols}
                assert len(values) == 1, "a patch is either fully masked or not at all"
                masked_cells += values.pop()
        assert_exact_share(masked_cells, n_cells, ratio)
        if height % patch == 0 and width % patch == 0:
            share = float(mask[b].float().mean())
            assert math.isclose(share, masked_cells / n_cells, rel_tol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 4),
    length=st.integers(1, 50),
    patch=st.integers(1, 6),
    ratio=ratios,
    seed=st.integers(0, 99),
)
def test_segment_mask_hides_whole_segments_at_the_ratio(
    batch: int, length: int, patch: int, ratio: float, seed: int
) -> None:
    mask = segment_mask(batch, length, patch, ratio, torch.Generator().manual_seed(seed))
    segments = [range(s, min(s + patch, length)) for s in range(0, length, patch)]
    for b in range(batch):
        flags = [{bool(mask[b, t]) for t in seg} for seg in segments]
        assert all(len(f) == 1 for f in flags)
        assert_exact_share(sum(f.pop() for f in flags), len(segments), ratio)


@settings(max_examples=30, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 15), min_size=1, max_size=6),
    ratio=ratios,
    seed=st.integers(0, 99),
)
def test_token_mask_hides_the_ratio_of_real_tokens_only(
    lengths: list[int], ratio: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), 15, dtype=torch.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(2, 50, (n,), generator=g)
    mask = token_mask(ids, ratio, torch.Generator().manual_seed(seed))
    assert not bool((mask & (ids == 0)).any()), "padding is never masked"
    for row, n in enumerate(lengths):
        assert_exact_share(int(mask[row].sum()), n, ratio)


@settings(max_examples=25, deadline=None)
@given(n_numeric=st.integers(0, 6), groups=st.lists(st.integers(2, 4), max_size=3), ratio=ratios)
def test_tabular_mask_treats_a_one_hot_group_as_one_feature(
    n_numeric: int, groups: list[int], ratio: float
) -> None:
    if n_numeric + len(groups) == 0:
        return
    categorical, col = [], n_numeric
    for size in groups:
        categorical.append(tuple(range(col, col + size)))
        col += size
    info = ModalityInfo("tabular", (col,), categorical=tuple(categorical))
    units = feature_units(info)
    x = torch.zeros(5, col)
    mask = input_mask(x, info, ratio, 1, units, torch.Generator().manual_seed(0))
    for row in range(5):
        per_group = [{bool(mask[row, c]) for c in group} for group in categorical]
        assert all(len(g) == 1 for g in per_group)
        masked = int(mask[row, :n_numeric].sum()) + sum(g.pop() for g in per_group)
        assert_exact_share(masked, n_numeric + len(groups), ratio)


def test_image_mask_covers_every_channel() -> None:
    info = ModalityInfo("image", (3, 8, 8))
    x = torch.zeros(4, 3, 8, 8)
    mask = input_mask(x, info, 0.5, 2, None, torch.Generator().manual_seed(0))
    assert mask.shape == x.shape
    assert torch.equal(mask[:, 0], mask[:, 1]) and torch.equal(mask[:, 0], mask[:, 2])
    assert torch.equal(mask.sum(dim=(1, 2, 3)), torch.full((4,), 3 * 8 * 4))


class Recorder(torch.nn.Module):
    """An encoder that remembers its input and returns fixed-size features."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: torch.Tensor | None = None
        self.proj = torch.nn.Linear(1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return self.proj(x.float().flatten(1).mean(dim=1, keepdim=True))


def test_masked_entries_get_the_mask_value_and_the_rest_is_untouched() -> None:
    info = ModalityInfo("image", (2, 4, 4))
    x = torch.rand(6, 2, 4, 4) + 1.0  # never equal to the mask value
    stats = {"x": (torch.zeros(1, 2, 1, 1), torch.ones(1, 2, 1, 1))}
    objective = MaskedModelling({"x": info}, stats, 4, 8, 0.25, 2, mask_id=1)
    with torch.no_grad():
        objective.mask_values["input0"].copy_(torch.tensor([-3.0, -7.0]))
    encoder = Recorder()
    objective(encoder, {"x": x}, torch.Generator().manual_seed(1))
    expected = input_mask(x, info, 0.25, 2, None, torch.Generator().manual_seed(1))
    seen = encoder.seen
    assert seen is not None
    assert torch.equal(seen[~expected], x[~expected])
    assert torch.equal(seen[:, 0][expected[:, 0]], torch.full((6 * 4,), -3.0))
    assert torch.equal(seen[:, 1][expected[:, 1]], torch.full((6 * 4,), -7.0))


def test_masked_text_uses_the_mask_id_and_scores_masked_tokens_only() -> None:
    info = ModalityInfo("text", (6,), vocab_size=10)
    ids = torch.tensor([[2, 3, 4, 5, 0, 0], [6, 7, 8, 9, 2, 3]])
    objective = MaskedModelling({"x": info}, {}, 4, 8, 0.5, 1, mask_id=1)
    encoder = Recorder()
    loss = objective(encoder, {"x": ids}, torch.Generator().manual_seed(0))
    expected = token_mask(ids, 0.5, torch.Generator().manual_seed(0))
    assert encoder.seen is not None
    assert torch.equal(encoder.seen, ids.masked_fill(expected, 1))
    # the loss is the mean cross-entropy of the decoder's logits at the masked positions
    with torch.no_grad():
        out = objective.decoders["input0"](encoder(ids.masked_fill(expected, 1)))
        logits = objective.vocab["input0"](out.view(2, 6, -1))
        naive = [
            -torch.log_softmax(logits[b, t], dim=0)[ids[b, t]]
            for b in range(2)
            for t in range(6)
            if expected[b, t]
        ]
    assert math.isclose(float(loss.detach()), float(sum(naive)) / len(naive), rel_tol=1e-5)
