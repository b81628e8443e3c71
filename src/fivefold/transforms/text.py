"""Seeded edits of raw texts: keyboard typos, word deletion, word swap and single edits.

Every function takes a :class:`random.Random` and never touches a global random stream, so the
same seed gives the same text. Used by the text corruptions of the robustness pillar and the
greedy edit attack (:mod:`fivefold.attacks.text`).

Reference: Belinkov & Bisk, "Synthetic and Natural Noise Both Break Neural Machine
Translation", ICLR 2018 (keyboard typos); Wei & Zou, "EDA: Easy Data Augmentation Techniques
for Boosting Performance on Text Classification Tasks", EMNLP 2019 (word deletion and swap).
"""

from __future__ import annotations

import random

__all__ = ["char_typos", "delete_words", "keyboard_neighbour", "one_edit", "swap_words", "typo_at"]

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
