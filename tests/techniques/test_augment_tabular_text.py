"""Tabular and text ops of ``augment`` against naive references and invariants.

Tabular: one-hot groups stay exactly one-hot, numeric-only noise, SMOTE rows lie on a segment
to a same-class training row. Text: padding stays at the end, special tokens never change,
deletions give subsequences, insertions supersequences, typos are one character edit away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fivefold.data.text import WordVocab
from fivefold.techniques.augment import mixing, tabular, text

GROUPS = ((4, 5, 6), (7, 8))


def rows(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    num = torch.randn(n, 4, generator=g)
    a = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3).float()
    b = torch.nn.functional.one_hot(torch.randint(0, 2, (n,), generator=g), 2).float()
    y = torch.cat(
        [torch.zeros(n - n // 4, dtype=torch.int64), torch.ones(n // 4, dtype=torch.int64)]
    )
    return torch.cat([num, a, b], dim=1), y


def assert_one_hot(x: torch.Tensor) -> None:
    for group in GROUPS:
        block = x[:, list(group)]
        assert bool(((block == 0) | (block == 1)).all()) and bool((block.sum(1) == 1).all())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), strength=st.floats(0.0, 2.0), lam=st.floats(0.0, 1.0))
def test_one_hot_groups_stay_one_hot(seed: int, strength: float, lam: float) -> None:
    x, y = rows(seed=seed)
    stats = tabular.TabularStats.of(x, y, GROUPS, 2)
    g = torch.Generator().manual_seed(seed)
    assert_one_hot(tabular.gaussian_noise(x, strength, g, stats))
    assert_one_hot(tabular.feature_dropout(x, min(strength, 1.0), g, stats))
    new, _ = tabular.smote(x, y, min(strength, 1.0), 1.0, 3, g, stats)
    assert_one_hot(new)
    assert_one_hot(mixing.mixup(x, torch.randperm(len(x), generator=g), lam, GROUPS))


def test_noise_and_dropout_touch_numeric_columns_only() -> None:
    x, y = rows()
    stats = tabular.TabularStats.of(x, y, GROUPS, 2)
    g = torch.Generator().manual_seed(0)
    noisy = tabular.gaussian_noise(x, 0.5, g, stats)
    assert torch.equal(noisy[:, 4:], x[:, 4:]) and bool((noisy[:, :4] != x[:, :4]).all())
    dropped = tabular.feature_dropout(x, 0.5, g, stats)
    changed = dropped[:, :4] != x[:, :4]
    assert torch.equal(dropped[:, 4:], x[:, 4:]) and 0.3 < float(changed.float().mean()) < 0.7
    means = x.mean(dim=0)[:4].expand_as(changed)
    assert torch.allclose(dropped[:, :4][changed], means[changed])


def test_minority_classes_are_those_below_the_mean_count() -> None:
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 10)
    stats = tabular.TabularStats.of(torch.randn(90, 3), y, (), 3)
    assert stats.minority.tolist() == [False, False, True]  # type: ignore[union-attr]


def test_smote_rows_lie_between_an_anchor_and_a_same_class_neighbour() -> None:
    x, y = rows(60)
    stats = tabular.TabularStats.of(x, y, GROUPS, 2)
    new, anchors = tabular.smote(x, y, 1.0, 1.0, 5, torch.Generator().manual_seed(0), stats)
    assert len(anchors) == int((y == 1).sum()), "every minority row spawns one (prob 1)"
    assert bool((y[anchors] == 1).all())
    for row, a in zip(new, anchors.tolist(), strict=True):
        anchor = x[a, :4]
        found = False
        for j in range(len(x)):  # naive search over same-class training rows
            if j == a or y[j] != 1:
                continue
            d = x[j, :4] - anchor
            u = float(torch.dot(row[:4] - anchor, d) / torch.dot(d, d))
            if 0 <= u <= 1 and torch.allclose(anchor + u * d, row[:4], atol=1e-5):
                found = True
                break
        assert found, "a SMOTE row is not on a segment to a same-class row"


# ---- text ------------------------------------------------------------------------------

CLS, SEP, MASK = 101, 102, 103


def fake_wordpiece(texts: Sequence[str]) -> torch.Tensor:
    """A stand-in sub-word encoder: [CLS] ids [SEP] with [MASK] recognised, length 10."""
    out = []
    for t in texts:
        ids = [MASK if w == "[MASK]" else 200 + len(w) for w in t.split()]
        row = [CLS, *ids[:8], SEP]
        out.append(row + [0] * (10 - len(row)))
    return torch.tensor(out)


def wordpiece_ids(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 9, (12,), generator=g).tolist()
    out = torch.zeros(12, 10, dtype=torch.int64)
    for i, n in enumerate(lengths):
        out[i, : n + 2] = torch.tensor(
            [CLS, *torch.randint(200, 260, (n,), generator=g).tolist(), SEP]
        )
    return out


def words_of(row: torch.Tensor) -> list[int]:
    return [int(v) for v in row if int(v) not in (0, CLS, SEP)]


def is_subsequence(small: list[int], big: list[int]) -> bool:
    it = iter(big)
    return all(any(v == w for w in it) for v in small)


@settings(max_examples=15, deadline=None)
@given(op=st.sampled_from(sorted(text.TEXT_OPS)), seed=st.integers(0, 500), s=st.floats(0, 1))
def test_padding_and_special_tokens_are_kept(op: str, seed: int, s: float) -> None:
    ids = wordpiece_ids(seed)
    vocab = text.TextVocab.of(fake_wordpiece, ids, 300, seed)
    out = text.TEXT_OPS[op](ids, s, torch.Generator().manual_seed(seed), vocab)
    assert out.shape == ids.shape and out.dtype == torch.int64
    for before, after in zip(ids, out, strict=True):
        n = int((after != 0).sum())
        assert bool((after[n:] == 0).all()), "padding must stay at the end"
        assert int(after[0]) == CLS and int(after[n - 1]) == SEP
        assert int((after == CLS).sum()) == 1 and int((after == SEP).sum()) == 1
        assert len(words_of(after)) > 0 or len(words_of(before)) == 0


def test_special_ids_and_mask_are_found_from_the_encoder() -> None:
    vocab = text.TextVocab.of(fake_wordpiece, wordpiece_ids(0), 300, 0)
    assert vocab.mask_id == MASK
    assert vocab.protected.nonzero().flatten().tolist() == [0, CLS, SEP]
    assert float(vocab.weights[[0, CLS, SEP]].sum()) == 0.0


def test_delete_swap_insert_relations() -> None:
    ids = wordpiece_ids(1)
    vocab = text.TextVocab.of(fake_wordpiece, ids, 300, 0)
    g = torch.Generator().manual_seed(0)
    deleted = text.word_delete(ids, 0.4, g, vocab)
    swapped = text.word_swap(ids, 0.8, g, vocab)
    inserted = text.word_insert(ids, 0.4, g, vocab)
    for i in range(len(ids)):
        before = words_of(ids[i])
        assert is_subsequence(words_of(deleted[i]), before)
        assert Counter(words_of(swapped[i])) == Counter(before)
        assert is_subsequence(before, words_of(inserted[i]))
    assert not torch.equal(deleted, ids) and not torch.equal(swapped, ids)
    assert not torch.equal(inserted, ids)


def test_mask_and_replace_change_only_word_positions() -> None:
    ids = wordpiece_ids(2)
    vocab = text.TextVocab.of(fake_wordpiece, ids, 300, 0)
    g = torch.Generator().manual_seed(0)
    editable = (ids != 0) & (ids != CLS) & (ids != SEP)
    masked = text.token_mask(ids, 0.5, g, vocab)
    assert torch.equal(masked[~editable], ids[~editable])
    assert bool((masked[masked != ids] == MASK).all()) and bool((masked != ids).any())
    replaced = text.word_replace(ids, 0.5, g, vocab)
    assert torch.equal(replaced[~editable], ids[~editable])
    seen = set(ids[editable].tolist())
    assert set(replaced[replaced != ids].tolist()) <= seen, "replacements come from training ids"


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (edits: delete, insert, substitute, swap neighbours)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = int(a[i - 1] != b[j - 1])
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def test_char_typos_are_one_edit_away_or_unknown() -> None:
    texts = ["the cat sat on the mat", "a bat and a cat", "the rat ate", "at tea the ate"]
    vocab_words = WordVocab.fit(texts, min_count=1, max_len=8)
    ids = vocab_words(texts)
    vocab = text.TextVocab.of(vocab_words, ids, vocab_words.vocab_size, 0)
    assert vocab.typos is not None
    words = {i: w for w, i in vocab_words.index.items()}
    hits = 0
    for idx, word in words.items():
        for typo in vocab.typos[idx].tolist():
            if typo != 1:
                hits += 1
                assert osa_distance(word, words[typo]) == 1, (word, words[typo])
    assert hits > 0, "some typos of these short words are real words"
    out = text.char_typo(ids, 1.0, torch.Generator().manual_seed(0), vocab)
    assert torch.equal(out == 0, ids == 0)
    assert bool((out != ids).any())
