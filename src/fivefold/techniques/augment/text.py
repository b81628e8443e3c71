"""Token-level text augmentations on (B, L) int64 ids, right-padded with 0.

Padding and special tokens ([CLS], [SEP] of a WordPiece backbone) are never changed, moved
past each other or pushed out: deletions compact the row to the left and insertions only use
free padding slots, so every row keeps its special tokens and its padding at the end.
Character typos need word strings: for a word vocabulary every known word gets a few typo'd
spellings up front (mapped back to ids, mostly [UNK]), which the op then draws from.

Reference: Wei & Zou, "EDA: Easy Data Augmentation Techniques for Boosting Performance on
Text Classification Tasks", EMNLP 2019; Belinkov & Bisk, "Synthetic and Natural Noise Both
Break Neural Machine Translation", ICLR 2018 (character noise).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

import torch

from fivefold.data.task import TextEncoder
from fivefold.data.text import WordVocab

__all__ = [
    "TEXT_OPS",
    "TextVocab",
    "char_typo",
    "token_mask",
    "word_delete",
    "word_insert",
    "word_replace",
    "word_swap",
]

TYPOS_PER_WORD = 4


@dataclass(frozen=True)
class TextVocab:
    """What the text ops know about the token ids.

    Attributes:
        protected: (V,) bool, ids never touched (padding and special tokens).
        mask_id: id written by ``token_mask`` ([MASK], or [UNK] for a word vocabulary).
        weights: (V,) sampling weights of replacement and insertion ids (training counts).
        typos: (V, TYPOS_PER_WORD) ids of typo'd spellings per id, or None.
    """

    protected: torch.Tensor
    mask_id: int
    weights: torch.Tensor
    typos: torch.Tensor | None = None

    @classmethod
    def of(
        cls, encoder: TextEncoder | None, train_ids: torch.Tensor, vocab_size: int, seed: int
    ) -> TextVocab:
        """Build from the task's encoder and its (N, L) training ids."""
        size = max(vocab_size, int(train_ids.max()) + 1 if train_ids.numel() else 1, 2)
        special, mask_id = _special_ids(encoder)
        protected = torch.zeros(size, dtype=torch.bool)
        protected[[i for i in special if i < size]] = True
        weights = torch.bincount(train_ids.flatten(), minlength=size).double()[:size]
        weights[protected] = 0.0
        if isinstance(encoder, WordVocab):
            weights[1] = 0.0  # never insert [UNK] as a "word"
        if float(weights.sum()) == 0.0:
            weights = (~protected).double()
        typos = _typo_table(encoder, size, seed) if isinstance(encoder, WordVocab) else None
        return cls(protected, mask_id, weights, typos)


def _special_ids(encoder: TextEncoder | None) -> tuple[set[int], int]:
    """Padding + special ids and the mask id, found by encoding empty and special strings."""
    if encoder is None or isinstance(encoder, WordVocab):
        return {0}, 1
    special = {0, *encoder([""])[0].tolist()}

    def single(token: str) -> int | None:
        ids = [i for i in encoder([token])[0].tolist() if i not in special]
        return ids[0] if len(ids) == 1 else None

    mask = single("[MASK]")
    unk = single("[UNK]")
    return special, mask if mask is not None else (unk if unk is not None else 1)


def _typo(word: str, rng: random.Random) -> str:
    """One character edit of ``word``: delete, swap, insert or substitute."""
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


def _typo_table(vocab: WordVocab, size: int, seed: int) -> torch.Tensor:
    """(V, TYPOS_PER_WORD) ids of typo'd spellings of each known word (unknown → [UNK])."""
    rng = random.Random(seed)
    table = torch.arange(size).unsqueeze(1).repeat(1, TYPOS_PER_WORD)
    for word, idx in vocab.index.items():
        if idx < size and word:
            table[idx] = torch.tensor(
                [vocab.index.get(_typo(word, rng), 1) for _ in range(TYPOS_PER_WORD)]
            )
    return table


def _editable(ids: torch.Tensor, vocab: TextVocab) -> torch.Tensor:
    """(B, L) bool: tokens an op may change (not padding, not special)."""
    return ~vocab.protected[ids.clamp(0, len(vocab.protected) - 1)]


def _draw_ids(shape: tuple[int, int], vocab: TextVocab, gen: torch.Generator) -> torch.Tensor:
    """(B, L) ids drawn with the vocabulary's training frequencies."""
    count = shape[0] * shape[1]
    flat = torch.multinomial(vocab.weights, max(count, 1), replacement=True, generator=gen)
    return flat[:count].reshape(shape)


def word_delete(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Delete each word with probability ``strength``; a row keeps at least one word."""
    editable = _editable(ids, vocab)
    drop = editable & (torch.rand(ids.shape, generator=gen) < strength)
    emptied = (editable & ~drop).sum(dim=1, keepdim=True) == 0
    keep = ~drop | emptied  # (B, L)
    b, length = ids.shape
    target = torch.where(keep, torch.cumsum(keep, dim=1) - 1, length)  # dropped → spare column
    out = torch.zeros(b, length + 1, dtype=ids.dtype)
    out.scatter_(1, target, torch.where(keep, ids, 0))
    return out[:, :length]


def word_swap(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Swap neighbouring words: each word swaps with the next with probability ≈ ``strength``."""
    out = ids
    length = ids.shape[1]
    for parity in (0, 1):
        left = torch.arange(parity, length - 1, 2)  # (M,) disjoint pairs (i, i + 1)
        if len(left) == 0:
            continue
        editable = _editable(out, vocab)
        swap = editable[:, left] & editable[:, left + 1]
        swap &= torch.rand(swap.shape, generator=gen) < strength / 2
        index = torch.arange(length).expand(len(ids), length).clone()
        index[:, left] = torch.where(swap, left + 1, left)
        index[:, left + 1] = torch.where(swap, left, left + 1)
        out = out.gather(1, index)
    return out


def word_insert(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Insert a vocabulary word before each word with probability ``strength`` (free slots only)."""
    b, length = ids.shape
    insert = _editable(ids, vocab) & (torch.rand(ids.shape, generator=gen) < strength)
    free = (ids == 0).sum(dim=1, keepdim=True)
    insert &= torch.cumsum(insert, dim=1) <= free
    shift = torch.cumsum(insert, dim=1)  # (B, L) insertions up to and including each token
    out = torch.zeros(b, 2 * length, dtype=ids.dtype)
    out.scatter_(1, torch.arange(length) + shift, ids)
    new = _draw_ids((b, length), vocab, gen)
    slot = torch.where(insert, torch.arange(length) + shift - 1, 2 * length - 1)
    out.scatter_(1, slot, torch.where(insert, new, out.gather(1, slot)))
    return out[:, :length]


def word_replace(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Replace each word with probability ``strength`` by a word drawn by training frequency."""
    change = _editable(ids, vocab) & (torch.rand(ids.shape, generator=gen) < strength)
    return torch.where(change, _draw_ids((ids.shape[0], ids.shape[1]), vocab, gen), ids)


def token_mask(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Replace each token with probability ``strength`` by [MASK] ([UNK] for word vocabularies)."""
    change = _editable(ids, vocab) & (torch.rand(ids.shape, generator=gen) < strength)
    return torch.where(change, torch.full_like(ids, vocab.mask_id), ids)


def char_typo(
    ids: torch.Tensor, strength: float, gen: torch.Generator, vocab: TextVocab
) -> torch.Tensor:
    """Misspell each word with probability ``strength`` (one character edit, re-looked-up)."""
    if vocab.typos is None:
        return ids.clone()
    change = _editable(ids, vocab) & (torch.rand(ids.shape, generator=gen) < strength)
    pick = torch.randint(0, vocab.typos.shape[1], ids.shape, generator=gen)
    safe = ids.clamp(0, len(vocab.typos) - 1)
    return torch.where(change, vocab.typos[safe, pick], ids)


TEXT_OPS = {
    "word_delete": word_delete,
    "word_swap": word_swap,
    "word_insert": word_insert,
    "word_replace": word_replace,
    "token_mask": token_mask,
    "char_typo": char_typo,
}
