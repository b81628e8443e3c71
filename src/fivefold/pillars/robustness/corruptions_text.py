"""Natural corruptions of raw texts (typos, word deletion, word swap) at severities 1..5.

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

from fivefold.transforms.text import char_typos, delete_words, swap_words

__all__ = ["TEXT_CORRUPTIONS", "TEXT_SEVERITY_PARAMETERS", "corrupt_texts"]

TextCorruption = Callable[[Sequence[str], int, torch.Generator], list[str]]

TEXT_SEVERITY_PARAMETERS: dict[str, tuple[float, ...]] = {
    "char_typo": (0.02, 0.04, 0.07, 0.1, 0.15),  # probability per letter
    "word_deletion": (0.05, 0.1, 0.15, 0.2, 0.3),  # probability per word
    "word_swap": (0.05, 0.1, 0.15, 0.2, 0.3),  # swaps per word
}


def _rng(gen: torch.Generator) -> random.Random:
    """A Python RNG seeded from ``gen`` (advances ``gen``)."""
    return random.Random(int(torch.randint(0, 2**62, (1,), generator=gen)))


_EDITS: dict[str, Callable[[str, float, random.Random], str]] = {
    "char_typo": char_typos,
    "word_deletion": delete_words,
    "word_swap": swap_words,
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
