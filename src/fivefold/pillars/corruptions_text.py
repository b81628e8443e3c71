"""Natural corruptions of raw texts (typos, word deletion, word swap) and single text edits.

Texts are corrupted as strings and then re-encoded with the task's ``text_encoder``. Every
function takes the whole batch of texts, a severity 0..5 (0 = unchanged) and a
``torch.Generator`` from which a :class:`random.Random` is seeded, so the same seed gives the
same output.

Reference: Belinkov & Bisk, "Synthetic and Natural Noise Both Break Neural Machine
Translation", ICLR 2018 (keyboard typos); Wei & Zou, "EDA: Easy Data Augmentation Techniques
for Boosting Performance on Text Classification Tasks", EMNLP 2019 (word deletion and swap).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch

__all__ = ["TEXT_CORRUPTIONS", "TEXT_SEVERITY_PARAMETERS", "corrupt_texts", "one_edit"]

TextCorruption = Callable[[Sequence[str], int, torch.Generator], list[str]]

TEXT_SEVERITY_PARAMETERS: dict[str, tuple[float, ...]] = {
    "char_typo": (0.02, 0.04, 0.07, 0.1, 0.15),  # probability per letter
    "word_deletion": (0.05, 0.1, 0.15, 0.2, 0.3),  # probability per word
    "word_swap": (0.05, 0.1, 0.15, 0.2, 0.3),  # swaps per word
}

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        _near = [_row[j] for j in (_c - 1, _c + 1) if 0 <= j < len(_row)]
        _near += [_ROWS[r][_c] for r in (_r - 1, _r + 1) if 0 <= r < 3 and _c < len(_ROWS[r])]
        _NEIGHBOURS[_ch] = "".join(_near)


def _rng(gen: torch.Generator) -> random.Random:
    """A Python RNG seeded from ``gen`` (advances ``gen``)."""
    return random.Random(int(torch.randint(0, 2**62, (1,), generator=gen)))


def _neighbour(ch: str, rng: random.Random) -> str:
    """A QWERTY neighbour of ``ch`` (same case), or ``ch`` itself if it has none."""
    near = _NEIGHBOURS.get(ch.lower(), "")
    if not near:
        return ch
    new = rng.choice(near)
    return new.upper() if ch.isupper() else new


def _typo_at(text: str, i: int, rng: random.Random) -> str:
    """Apply one keyboard typo at character ``i``: swap with next, delete, insert, substitute."""
    op = rng.randrange(4)
    if op == 0 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op == 1:
        return text[:i] + text[i + 1 :]
    if op == 2:
        return text[: i + 1] + _neighbour(text[i], rng) + text[i + 1 :]
    return text[:i] + _neighbour(text[i], rng) + text[i + 1 :]


def _char_typos(text: str, prob: float, rng: random.Random) -> str:
    """Each letter gets a typo with probability ``prob`` (right to left keeps indices valid)."""
    for i in reversed(range(len(text))):
        if text[i].isalpha() and rng.random() < prob:
            text = _typo_at(text, i, rng)
    return text


def _delete_words(text: str, prob: float, rng: random.Random) -> str:
    """Drop each word with probability ``prob``; a text keeps at least one word."""
    words = text.split()
    kept = [w for w in words if rng.random() >= prob]
    return " ".join(kept or words[:1])


def _swap_words(text: str, rate: float, rng: random.Random) -> str:
    """Swap two random words ``rate`` x n_words times (stochastic rounding)."""
    words = text.split()
    if len(words) < 2:
        return text
    for _ in range(int(rate * len(words) + rng.random())):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return " ".join(words)


_EDITS: dict[str, Callable[[str, float, random.Random], str]] = {
    "char_typo": _char_typos,
    "word_deletion": _delete_words,
    "word_swap": _swap_words,
}


def corrupt_texts(
    texts: Sequence[str], name: str, severity: int, gen: torch.Generator
) -> list[str]:
    """Corrupt every text with corruption ``name`` at ``severity`` (0 = unchanged).

    Args:
        texts: N raw strings.
        name: "char_typo", "word_deletion" or "word_swap".
        severity: 0..5.
        gen: the random generator.

    Returns:
        N corrupted strings.
    """
    if not 0 <= severity <= len(TEXT_SEVERITY_PARAMETERS[name]):
        raise ValueError(f"severity must be in 0..5, got {severity}")
    if severity == 0:
        return list(texts)
    rng, param = _rng(gen), TEXT_SEVERITY_PARAMETERS[name][severity - 1]
    return [_EDITS[name](text, param, rng) for text in texts]


def _corruption(name: str) -> TextCorruption:
    def fn(texts: Sequence[str], severity: int, gen: torch.Generator) -> list[str]:
        return corrupt_texts(texts, name, severity, gen)

    fn.__doc__ = _EDITS[name].__doc__
    return fn


TEXT_CORRUPTIONS: dict[str, TextCorruption] = {name: _corruption(name) for name in _EDITS}
"""Corruption name → ``(texts, severity, gen) -> texts``."""


def one_edit(text: str, rng: random.Random) -> str:
    """One small edit of ``text``: a typo, a deleted word or two swapped words (uniformly).

    The unit of the greedy substitution attack in :mod:`fivefold.pillars.text_attack`.
    """
    words = text.split()
    op = rng.randrange(3) if len(words) > 1 else 0
    if op == 0:
        letters = [i for i, ch in enumerate(text) if ch.isalpha()]
        return _typo_at(text, rng.choice(letters), rng) if letters else text
    i = rng.randrange(len(words))
    if op == 1:
        return " ".join(words[:i] + words[i + 1 :])
    j = rng.choice([k for k in range(len(words)) if k != i])
    words[i], words[j] = words[j], words[i]
    return " ".join(words)
