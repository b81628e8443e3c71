"""Seeded text edits: on raw strings (keyboard typos, word deletion and swap, single edits) and
on batches of token ids (word deletion, swap, insertion, replacement, masking, substitution).

String edits take a :class:`random.Random`, token edits a ``torch.Generator``; neither touches
a global random stream, so the same seed gives the same text. The string edits serve the text
corruptions of the robustness pillar and the greedy edit attack (:mod:`fivefold.attacks.text`),
the token edits the text augmentation.

Token ids come as (B, L) int64 rows, right-padded with 0. ``protected`` is a (V,) bool table of
the ids never touched (padding, [CLS], [SEP]): deletions compact a row to the left and
insertions only use free padding slots, so every row keeps its special tokens in place and its
padding at the end.

Reference: Belinkov & Bisk, "Synthetic and Natural Noise Both Break Neural Machine
Translation", ICLR 2018 (keyboard typos, character noise); Wei & Zou, "EDA: Easy Data
Augmentation Techniques for Boosting Performance on Text Classification Tasks", EMNLP 2019
(word deletion, swap, insertion and replacement).
"""

from __future__ import annotations

import random
import string

import torch

__all__ = [
    "char_typos",
    "delete_tokens",
    "delete_words",
    "editable",
    "insert_tokens",
    "keyboard_neighbour",
    "letter_edit",
    "mask_tokens",
    "one_edit",
    "replace_tokens",
    "substitute_tokens",
    "swap_tokens",
    "swap_words",
    "typo_at",
]

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        _near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        _near += [_ROWS[r][_c] for r in (_r - 1, _r + 1) if 0 <= r < 3 and _c < len(_ROWS[r])]
        _NEIGHBOURS[_ch] = "".join(_near)


def keyboard_neighbour(ch: str, rng: random.Random) -> str:
    """A QWERTY neighbour of ``ch`` (same case), or ``ch`` itself if it has none."""
    near = _NEIGHBOURS.get(ch.lower(), "")
    if not near:
        return ch
    new = rng.choice(near)
    return new.upper() if ch.isupper() else new


def typo_at(text: str, i: int, rng: random.Random) -> str:
    """Apply one keyboard typo at character ``i``: swap with next, delete, insert, substitute."""
    op = rng.randrange(4)
    if op == 0 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == 1:
        return text[:i] + text[i + 1 :]
    if op == 2:
        return text[: i + 1] + keyboard_neighbour(text[i], rng) + text[i + 1 :]
    return text[:i] + keyboard_neighbour(text[i], rng) + text[i + 1 :]


def char_typos(text: str, prob: float, rng: random.Random) -> str:
    """Each letter gets a typo with probability ``prob`` (right to left keeps indices valid)."""
    for i in reversed(range(len(text))):
        if text[i].isalpha() and rng.random() < prob:
            text = typo_at(text, i, rng)
    return text


def delete_words(text: str, prob: float, rng: random.Random) -> str:
    """Drop each word with probability ``prob``; a text keeps at least one word."""
    words = text.split()
    kept = [w for w in words if rng.random() >= prob]
    return " ".join(kept or words[:1])


def swap_words(text: str, rate: float, rng: random.Random) -> str:
    """Swap two random words ``rate`` x n_words times (stochastic rounding)."""
    words = text.split()
    if len(words) < 2:
        return text
    for _ in range(int(rate * len(words) + rng.random())):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return " ".join(words)


def one_edit(text: str, rng: random.Random) -> str:
    """One small edit of ``text``: a typo, a deleted word or two swapped words (uniformly).

    The unit of the greedy substitution attack in :mod:`fivefold.attacks.text`.
    """
    words = text.split()
    op = rng.randrange(3) if len(words) > 1 else 0
    if op == 0:
        letters = [i for i, ch in enumerate(text) if ch.isalpha()]
        return typo_at(text, rng.choice(letters), rng) if letters else text
    i = rng.randrange(len(words))
    if op == 1:
        return " ".join(words[:i] + words[i + 1 :])
    j = rng.choice([k for k in range(len(words)) if k != i])
    words[i], words[j] = words[j], words[i]
    return " ".join(words)


def letter_edit(word: str, rng: random.Random) -> str:
    """One character edit of ``word`` with a random letter: delete, swap, insert or substitute.

    Reference: Belinkov & Bisk 2018 (random character noise).
    """
    pos = rng.randrange(len(word))
    letter = rng.choice(string.ascii_lowercase)
    kind = rng.randrange(4) if len(word) > 1 else rng.choice((2, 3))
    if kind == 0:
        return word[:pos] + word[pos + 1 :]
    if kind == 1:
        pos = min(pos, len(word) - 2)
        return word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
    if kind == 2:
        return word[:pos] + letter + word[pos:]
    return word[:pos] + letter + word[pos + 1 :]


# ------------------------------------------------------------------ token ids (B, L), 0 = padding


def editable(ids: torch.Tensor, protected: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: the tokens an edit may change (ids beyond the table count as its last)."""
    return ~protected[ids.clamp(0, len(protected) - 1)]


def _chosen(
    ids: torch.Tensor, prob: float, gen: torch.Generator, protected: torch.Tensor
) -> torch.Tensor:
    """(B, L) bool: editable tokens picked independently with probability ``prob``."""
    return editable(ids, protected) & (torch.rand(ids.shape, generator=gen) < prob)


def _draw_ids(shape: tuple[int, int], weights: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, L) ids drawn with probabilities proportional to ``weights`` (V,)."""
    count = shape[0] * shape[1]
    flat = torch.multinomial(weights, max(count, 1), replacement=True, generator=gen)
    return flat[:count].reshape(shape)


def delete_tokens(
    ids: torch.Tensor, prob: float, gen: torch.Generator, protected: torch.Tensor
) -> torch.Tensor:
    """Delete each editable token with probability ``prob``; a row keeps at least one.

    Args:
        ids: (B, L) token ids, right-padded with 0.
        prob: deletion probability per token.
        gen: the generator.
        protected: (V,) bool, the ids never edited (padding and special tokens).

    Returns:
        (B, L) ids, the kept tokens compacted to the left and padded with 0.

    Reference: Wei & Zou 2019 (random deletion).
    """
    can = editable(ids, protected)
    drop = can & (torch.rand(ids.shape, generator=gen) < prob)
    emptied = (can & ~drop).sum(dim=1, keepdim=True) == 0
    keep = ~drop | emptied  # (B, L)
    b, length = ids.shape
    target = torch.where(keep, torch.cumsum(keep, dim=1) - 1, length)  # dropped → spare column
    out = torch.zeros(b, length + 1, dtype=ids.dtype)
    out.scatter_(1, target, torch.where(keep, ids, 0))
    return out[:, :length]


def swap_tokens(
    ids: torch.Tensor, prob: float, gen: torch.Generator, protected: torch.Tensor
) -> torch.Tensor:
    """Swap neighbouring editable tokens: each swaps with the next with probability ≈ ``prob``.

    Disjoint pairs (i, i + 1) swap with probability ``prob / 2``, first from even, then from
    odd positions, so a token moves at most two places.

    Args:
        ids, gen, protected: as for :func:`delete_tokens` (protected ids never move).
        prob: swap rate per token.

    Returns:
        (B, L) ids, the same multiset per row.

    Reference: Wei & Zou 2019 (random swap).
    """
    out = ids
    length = ids.shape[1]
    for parity in (0, 1):
        left = torch.arange(parity, length - 1, 2)  # (M,) disjoint pairs (i, i + 1)
        if len(left) == 0:
            continue
        can = editable(out, protected)
        swap = can[:, left] & can[:, left + 1]
        swap &= torch.rand(swap.shape, generator=gen) < prob / 2
        index = torch.arange(length).expand(len(ids), length).clone()
        index[:, left] = torch.where(swap, left + 1, left)
        index[:, left + 1] = torch.where(swap, left, left + 1)
        out = out.gather(1, index)
    return out


def insert_tokens(
    ids: torch.Tensor,
    prob: float,
    gen: torch.Generator,
    protected: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Insert a drawn token before each editable token with probability ``prob``.

    Insertions use free padding slots only (the first ones of a row win), so no token falls
    off the end.

    Args:
        ids, gen, protected: as for :func:`delete_tokens` (nothing goes before protected ids).
        prob: insertion probability per token.
        weights: (V,) sampling weights of the inserted ids.

    Returns:
        (B, L) ids.

    Reference: Wei & Zou 2019 (random insertion).
    """
    b, length = ids.shape
    insert = _chosen(ids, prob, gen, protected)
    free = (ids == 0).sum(dim=1, keepdim=True)
    insert &= torch.cumsum(insert, dim=1) <= free
    shift = torch.cumsum(insert, dim=1)  # (B, L) insertions up to and including each token
    out = torch.zeros(b, 2 * length, dtype=ids.dtype)
    out.scatter_(1, torch.arange(length) + shift, ids)
    new = _draw_ids((b, length), weights, gen)
    slot = torch.where(insert, torch.arange(length) + shift - 1, 2 * length - 1)
    out.scatter_(1, slot, torch.where(insert, new, out.gather(1, slot)))
    return out[:, :length]


def replace_tokens(
    ids: torch.Tensor,
    prob: float,
    gen: torch.Generator,
    protected: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Replace each editable token with probability ``prob`` by an id drawn from ``weights``.

    Args:
        ids, gen, protected: as for :func:`delete_tokens`.
        prob: replacement probability per token.
        weights: (V,) sampling weights of the new ids (e.g. training counts).

    Returns:
        (B, L) ids.

    Reference: Wei & Zou 2019 (replacement, here by frequency rather than by synonym).
    """
    change = _chosen(ids, prob, gen, protected)
    return torch.where(change, _draw_ids((ids.shape[0], ids.shape[1]), weights, gen), ids)


def mask_tokens(
    ids: torch.Tensor, prob: float, gen: torch.Generator, protected: torch.Tensor, mask_id: int
) -> torch.Tensor:
    """Replace each editable token with probability ``prob`` by ``mask_id`` ((B, L) → (B, L)).

    Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for
    Language Understanding", NAACL 2019 (token masking).
    """
    change = _chosen(ids, prob, gen, protected)
    return torch.where(change, torch.full_like(ids, mask_id), ids)


def substitute_tokens(
    ids: torch.Tensor,
    prob: float,
    gen: torch.Generator,
    protected: torch.Tensor,
    variants: torch.Tensor,
) -> torch.Tensor:
    """Replace each editable token with probability ``prob`` by one of its own variants.

    Args:
        ids, gen, protected: as for :func:`delete_tokens`.
        prob: substitution probability per token.
        variants: (V, K) ids of K variants of each id (e.g. typo'd spellings), drawn uniformly.

    Returns:
        (B, L) ids.

    Reference: Belinkov & Bisk 2018 (character noise, looked up as whole words).
    """
    change = _chosen(ids, prob, gen, protected)
    pick = torch.randint(0, variants.shape[1], ids.shape, generator=gen)
    safe = ids.clamp(0, len(variants) - 1)
    return torch.where(change, variants[safe, pick], ids)
