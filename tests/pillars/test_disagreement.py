"""Ensemble disagreement metrics against naive per-sample loops, scipy's entropy and invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import accuracy_score, log_loss

from fivefold.pillars import metrics as M


def member_probs(k: int, n: int, c: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(c, 0.5), size=(k, n))


@pytest.mark.parametrize(("k", "n", "c"), [(2, 7, 2), (5, 40, 10), (3, 11, 4)])
def test_mutual_information_equals_a_naive_loop(k: int, n: int, c: int) -> None:
    p = member_probs(k, n, c)
    naive = [
        entropy(p[:, i].mean(axis=0)) - np.mean([entropy(p[j, i]) for j in range(k)])
        for i in range(n)
    ]
    np.testing.assert_allclose(M.mutual_information(p), naive, atol=1e-12)
    assert np.all(M.mutual_information(p) <= math.log(k) + 1e-12)


@pytest.mark.parametrize(("k", "n", "c"), [(2, 7, 2), (5, 40, 10)])
def test_variance_and_pairwise_disagreement_equal_naive_loops(k: int, n: int, c: int) -> None:
    p = member_probs(k, n, c, seed=1)
    variance = [
        sum(np.mean([(p[j, i, cl] - p[:, i, cl].mean()) ** 2 for j in range(k)]) for cl in range(c))
        for i in range(n)
    ]
    np.testing.assert_allclose(M.member_variance(p), variance, atol=1e-12)
    pred = p.argmax(axis=-1)
    pairs = list(itertools.combinations(range(k), 2))
    rate = [np.mean([pred[a, i] != pred[b, i] for a, b in pairs]) for i in range(n)]
    np.testing.assert_allclose(M.disagreement_rate(p), rate, atol=1e-12)


def test_identical_members_disagree_not_at_all_and_opposite_ones_maximally() -> None:
    one = member_probs(1, 9, 3)
    same = np.repeat(one, 4, axis=0)
    for score in (M.mutual_information, M.member_variance, M.disagreement_rate):
        np.testing.assert_allclose(score(same), 0.0, atol=1e-12)
        np.testing.assert_allclose(score(one), 0.0, atol=1e-12)
    # two confident members on different classes: MI = log 2, variance = 2 * 0.25, rate = 1
    opposite = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert M.mutual_information(opposite)[0] == pytest.approx(math.log(2))
    assert M.member_variance(opposite)[0] == pytest.approx(0.5)
    assert M.disagreement_rate(opposite)[0] == 1.0


def test_member_summary_against_sklearn_and_its_own_gains() -> None:
    p = member_probs(5, 60, 4, seed=2)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, size=60)
    ens = p.mean(axis=0)
    s = M.member_summary(y, p, ens, bins=10)
    acc = [accuracy_score(y, m.argmax(1)) for m in p]
    assert s["member_accuracy"] == pytest.approx(acc)
    assert s["member_nll"] == pytest.approx([log_loss(y, m, labels=range(4)) for m in p])
    assert s["ensemble_nll"] == pytest.approx(log_loss(y, ens, labels=range(4)))
    assert s["best_member"] == int(np.argmax(acc))
    assert s["nll_gain"] == pytest.approx(np.mean(s["member_nll"]) - s["ensemble_nll"])
    assert s["ece_gain"] == pytest.approx(s["mean_member_ece"] - s["ensemble_ece"])
    assert s["accuracy_gain_over_best"] == pytest.approx(s["ensemble_accuracy"] - max(acc))
    # Jensen: the NLL of the mean probability never exceeds the members' mean NLL
    assert s["nll_gain"] >= 0
    assert s["mutual_information"] == pytest.approx(M.mutual_information(p).mean())


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(K, N, C\)"):
        M.mutual_information(np.ones((3, 4)))
    with pytest.raises(ValueError, match="do not match"):
        M.member_summary(np.zeros(4), member_probs(2, 4, 3), np.full((4, 2), 0.5))


def test_selective_curve_ranks_by_a_given_confidence() -> None:
    p = member_probs(1, 30, 3, seed=4)[0]
    y = np.random.default_rng(5).integers(0, 3, size=30)
    # a confidence equal to the max probability gives the default curve
    assert M.aurc(y, p, confidence=p.max(axis=1)) == pytest.approx(M.aurc(y, p))
    # the oracle ranking (correct first) reaches the optimal AURC: E-AURC 0
    correct = (p.argmax(1) == y).astype(float)
    assert M.excess_aurc(y, p, confidence=correct) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="confidence"):
        M.aurc(y, p, confidence=np.ones(3))
