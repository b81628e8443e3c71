"""Token-id edits of :mod:`fivefold.transforms.text`, each checked once through one table.

Every edit keeps the shape and int64 dtype, the special tokens and the padding at the end, is
the identity at probability 0, is seeded and leaves the global random stream alone; deletions
give subsequences, swaps permutations, insertions supersequences, and the other edits change
editable positions only. ``letter_edit`` is one character edit away.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.transforms import text

CLS, SEP, MASK, V = 1, 2, 3, 40
PROTECTED = torch.zeros(V, dtype=torch.bool)
PROTECTED[[0, CLS, SEP]] = True
WEIGHTS = (~PROTECTED).double()
WEIGHTS[MASK] = 0.0
VARIANTS = 4 + (torch.arange(V).unsqueeze(1) + torch.tensor([[5, 7]])) % (V - 4)  # word ids

Edit = Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]
EDITS: dict[str, Edit] = {
    "delete": lambda ids, p, g: text.delete_tokens(ids, p, g, PROTECTED),
    "swap": lambda ids, p, g: text.swap_tokens(ids, p, g, PROTECTED),
    "insert": lambda ids, p, g: text.insert_tokens(ids, p, g, PROTECTED, WEIGHTS),
    "replace": lambda ids, p, g: text.replace_tokens(ids, p, g, PROTECTED, WEIGHTS),
    "mask": lambda ids, p, g: text.mask_tokens(ids, p, g, PROTECTED, MASK),
    "substitute": lambda ids, p, g: text.substitute_tokens(ids, p, g, PROTECTED, VARIANTS),
}


def rows(seed: int = 0) -> torch.Tensor:
    """(8, 10) [CLS] words [SEP] rows, right-padded with 0, words in 4..V-1."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(8, 10, dtype=torch.int64)
    for i, n in enumerate(torch.randint(0, 8, (8,), generator=g).tolist()):
        out[i, : n + 2] = torch.tensor([CLS, *torch.randint(4, V, (n,), generator=g).tolist(), SEP])
    return out


def words(row: torch.Tensor) -> list[int]:
    return [int(v) for v in row if not PROTECTED[int(v)]]


def is_subsequence(small: list[int], big: list[int]) -> bool:
    it = iter(big)
    return all(any(v == w for w in it) for v in small)


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(EDITS)), seed=st.integers(0, 1000), p=st.floats(0, 1))
def test_special_tokens_and_padding_stay(name: str, seed: int, p: float) -> None:
    ids = rows(seed)
    out = EDITS[name](ids, p, torch.Generator().manual_seed(seed))
    assert out.shape == ids.shape and out.dtype == torch.int64
    for before, after in zip(ids, out, strict=True):
        n = int((after != 0).sum())
        assert bool((after[n:] == 0).all()), "padding stays at the end"
        assert int(after[0]) == CLS and int(after[n - 1]) == SEP
        assert len(words(after)) > 0 or len(words(before)) == 0


@pytest.mark.parametrize("name", sorted(EDITS))
def test_identity_at_zero_seeded_and_global_stream_untouched(name: str) -> None:
    ids = rows()
    before = torch.random.get_rng_state()
    assert torch.equal(EDITS[name](ids, 0.0, torch.Generator().manual_seed(0)), ids)
    one = EDITS[name](ids, 0.6, torch.Generator().manual_seed(1))
    assert torch.equal(one, EDITS[name](ids, 0.6, torch.Generator().manual_seed(1)))
    assert not torch.equal(one, EDITS[name](ids, 0.6, torch.Generator().manual_seed(2)))
    assert not torch.equal(one, ids)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("name", sorted(EDITS))
def test_what_each_edit_may_change(name: str) -> None:
    ids = rows(3)
    out = EDITS[name](ids, 0.5, torch.Generator().manual_seed(0))
    for before, after in zip(ids, out, strict=True):
        old, new = words(before), words(after)
        if name == "delete":
            assert is_subsequence(new, old)
        elif name == "swap":
            assert Counter(new) == Counter(old)
        elif name == "insert":
            assert is_subsequence(old, new)
    if name in ("replace", "mask", "substitute"):
        kept = PROTECTED[ids]
        assert torch.equal(out[kept], ids[kept])
        changed = out != ids
        ok = {
            "mask": out[changed] == MASK,
            "replace": ~PROTECTED[out[changed]],
            "substitute": (VARIANTS[ids[changed]] == out[changed, None]).any(dim=1),
        }[name]
        assert bool(ok.all())


@settings(max_examples=50, deadline=None)
@given(word=st.text("abcdefghij", min_size=1, max_size=8), seed=st.integers(0, 10_000))
def test_letter_edit_is_one_edit(word: str, seed: int) -> None:
    out = text.letter_edit(word, random.Random(seed))
    assert abs(len(out) - len(word)) <= 1
    if len(out) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(word, out, strict=True)) if a != b]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1
        assert len(diff) <= 1 or (swapped and sorted(word) == sorted(out))
    else:
        short, long = sorted((word, out), key=len)
        assert any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
