"""A greedy black-box text attack by character and word edits.

Each round tries ``candidates`` random single edits of every still-correct text (a keyboard
typo, a deleted word or two swapped words: :func:`fivefold.transforms.text.one_edit`), encodes
them with the task's ``text_encoder`` and keeps the edit that lowers the true-class probability
most. Accuracy after ``b`` rounds is the accuracy under an edit budget of ``b``; a text fooled
once counts as fooled for every larger budget.

Reference: Gao et al., "Black-box Generation of Adversarial Text Sequences to Evade Deep
Learning Classifiers" (DeepWordBug), IEEE S&P Workshops 2018; Pruthi et al., "Combating
Adversarial Misspellings with Robust Word Recognition", ACL 2019.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from fivefold.data.task import Inputs, TextEncoder
from fivefold.training.subject import Subject
from fivefold.transforms.text import one_edit

__all__ = ["text_edit_attack"]

Embed = Callable[[torch.Tensor, torch.Tensor], Inputs]
"""(token ids (N, L), the rows (N,) they belong to) -> the model's inputs for those rows."""


def _true_prob(
    subject: Subject,
    encoder: TextEncoder,
    texts: Sequence[str],
    y: torch.Tensor,
    rows: torch.Tensor,
    embed: Embed,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) probability of the true class and (N,) correctness of ``texts``."""
    x = embed(encoder(texts), rows)
    prob = subject.predict_proba(x).gather(1, y[:, None])[:, 0]
    return prob, subject.predict(x) == y  # one forward pass: the second is memoised


def _round(
    subject: Subject,
    encoder: TextEncoder,
    texts: list[str],
    y: torch.Tensor,
    rows: torch.Tensor,
    embed: Embed,
    *,
    candidates: int,
    rng: random.Random,
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """One greedy edit per text: the candidate with the lowest true-class probability.

    Returns the chosen texts, their (N,) true-class probabilities and (N,) correctness.
    """
    tried = [one_edit(t, rng) for t in texts for _ in range(candidates)]
    prob, correct = _true_prob(
        subject,
        encoder,
        tried,
        y.repeat_interleave(candidates),
        rows.repeat_interleave(candidates),
        embed,
    )
    best = prob.view(len(texts), candidates).argmin(1)
    pick = torch.arange(len(texts)) * candidates + best
    return [tried[i] for i in pick.tolist()], prob[pick], correct[pick]


def text_edit_attack(
    model: nn.Module | Subject,
    encoder: TextEncoder,
    texts: Sequence[str],
    y: torch.Tensor,
    *,
    budget: int = 3,
    candidates: int = 8,
    seed: int = 0,
    batch: int = 256,
    context: Mapping[str, torch.Tensor] | None = None,
    key: str = "x",
) -> list[float]:
    """Accuracy under the greedy edit attack for edit budgets 0 (clean) to ``budget``.

    Args:
        model: the classifier of encoded texts (N, L) int64, or a Subject (queried through
            its probabilities and predictions, so ensembles and adapting models work too).
        encoder: turns raw strings into the model's token ids.
        texts: N raw strings.
        y: (N,) labels.
        budget: the largest number of edits.
        candidates: random single edits tried per text and round.
        seed: seed of the edit sampler.
        batch: inference batch size of a plain model (a Subject has its own).
        context: the other inputs of the same N rows, for a model of several inputs (e.g. a
            review beside a table): they stay as they are while the text under ``key`` is
            edited; None: the model reads the token ids alone.
        key: the text's input name when ``context`` is given.

    Returns:
        ``budget + 1`` accuracies, non-increasing.
    """
    subject = model if isinstance(model, Subject) else Subject(model, eval_batch_size=batch)
    rng = random.Random(seed)
    embed = _embedding(context, key)
    current = list(texts)
    everyone = torch.arange(len(current))
    prob, correct = _true_prob(subject, encoder, current, y, everyone, embed)
    accuracies = [float(correct.float().mean())] if len(y) else [0.0]
    for _ in range(budget):
        live = correct.nonzero()[:, 0].tolist()
        if live:
            picked, new_prob, new_correct = _round(
                subject,
                encoder,
                [current[i] for i in live],
                y[live],
                everyone[live],
                embed,
                candidates=candidates,
                rng=rng,
            )
            for j, i in enumerate(live):
                if new_prob[j] < prob[i]:
                    current[i], prob[i] = picked[j], new_prob[j]
                correct[i] = bool(new_correct[j]) and bool(correct[i])
        accuracies.append(float(correct.float().mean()) if len(y) else 0.0)
    return accuracies


def _embedding(context: Mapping[str, torch.Tensor] | None, key: str) -> Embed:
    """How token ids of some rows become the model's inputs: alone, or put under ``key`` beside
    those rows of the other inputs."""
    if context is None:
        return lambda ids, rows: ids

    def embed(ids: torch.Tensor, rows: torch.Tensor) -> Inputs:
        x = {k: v[rows] for k, v in context.items() if k != key}
        x[key] = ids
        return x

    return embed
