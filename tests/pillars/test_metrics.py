"""Metrics against independent oracles: scikit-learn, fairlearn, torch and naive loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from fairlearn.metrics import (  # type: ignore[import-untyped]
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
)
from fairlearn.metrics import false_positive_rate as fl_fpr
from fairlearn.metrics import selection_rate as fl_selection_rate
from fairlearn.metrics import true_positive_rate as fl_tpr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score

from fivefold.pillars import metrics as M


def random_probs(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prob = rng.dirichlet(np.full(c, 0.7), size=n)
    y = rng.integers(0, c, size=n)
    return y, prob


def naive_ece(y: np.ndarray, prob: np.ndarray, n_bins: int) -> float:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        members = []
        for i in range(len(y)):
            conf = prob[i].max()
            inside = (edges[b] < conf <= edges[b + 1]) or (b == 0 and conf == 0.0)
            if inside:
                members.append((conf, float(prob[i].argmax() == y[i])))
        if members:
            acc = sum(m[1] for m in members) / len(members)
            conf_mean = sum(m[0] for m in members) / len(members)
            total += len(members) / len(y) * abs(acc - conf_mean)
    return total


# --- classification -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "c"), [(300, 2), (400, 5)])
def test_classification_metrics_match_sklearn(n: int, c: int) -> None:
    y, prob = random_probs(n, c)
    pred = prob.argmax(1)
    assert M.accuracy(y, prob) == pytest.approx(accuracy_score(y, pred))
    f1 = f1_score(y, pred, labels=list(range(c)), average="macro", zero_division=0)
    assert M.macro_f1(y, prob) == pytest.approx(f1)
    assert M.nll(y, prob) == pytest.approx(log_loss(y, prob, labels=list(range(c))))
    brier = np.mean(np.sum((prob - np.eye(c)[y]) ** 2, axis=1))
    assert M.brier_score(y, prob) == pytest.approx(brier)


def test_macro_f1_counts_absent_classes_as_zero() -> None:
    y = np.array([0, 0, 1, 1])
    prob = np.eye(3)[[0, 0, 1, 0]]
    ref = f1_score(y, prob.argmax(1), labels=[0, 1, 2], average="macro", zero_division=0)
    assert M.macro_f1(y, prob) == pytest.approx(ref)


def test_binary_brier_is_twice_sklearn_and_nll_clips() -> None:
    y, prob = random_probs(200, 2, seed=3)
    assert M.brier_score(y, prob) == pytest.approx(2 * brier_score_loss(y, prob[:, 1]))
    hard = np.array([[1.0, 0.0]])
    assert M.nll(np.array([1]), hard) == pytest.approx(-math.log(1e-12))


def test_softmax_matches_torch() -> None:
    logits = np.random.default_rng(0).normal(size=(20, 4)) * 30
    ref = torch.softmax(torch.tensor(logits) / 2.0, dim=1).numpy()
    np.testing.assert_allclose(M.softmax(logits, 2.0), ref, rtol=1e-12, atol=1e-15)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="y_prob"):
        M.accuracy(np.array([0, 1]), np.ones((3, 2)) / 2)


# --- calibration ----------------------------------------------------------------------------


@pytest.mark.parametrize(("c", "bins"), [(2, 15), (10, 15), (4, 7)])
def test_ece_matches_naive_loop(c: int, bins: int) -> None:
    y, prob = random_probs(500, c, seed=c)
    assert M.expected_calibration_error(y, prob, n_bins=bins) == pytest.approx(
        naive_ece(y, prob, bins), abs=1e-12
    )


def test_bins_are_left_open_right_closed() -> None:
    conf = np.array([0.0, 0.2, 0.2 + 1e-9, 0.4, 1.0])
    assert M.equal_width_bins(conf, 5).tolist() == [0, 0, 1, 1, 4]


def test_adaptive_ece_matches_equal_mass_chunks() -> None:
    y, prob = random_probs(150, 3, seed=1)  # 150 / 15 = 10 samples per bin
    conf, correct = prob.max(1), (prob.argmax(1) == y).astype(float)
    order = np.argsort(conf, kind="stable")
    ref = sum(
        len(ch) / 150 * abs(correct[ch].mean() - conf[ch].mean())
        for ch in np.array_split(order, 15)
    )
    assert M.adaptive_calibration_error(y, prob, n_bins=15) == pytest.approx(ref, abs=1e-12)
    assert np.bincount(M.equal_mass_bins(conf, 15)).tolist() == [10] * 15


def test_reliability_table_agrees_with_ece() -> None:
    y, prob = random_probs(300, 3, seed=2)
    rows = M.reliability_table(y, prob, n_bins=15)
    assert len(rows) == 15 and sum(r["count"] for r in rows) == 300
    ece = sum(r["count"] / 300 * abs(r["accuracy"] - r["confidence"]) for r in rows if r["count"])
    assert ece == pytest.approx(M.expected_calibration_error(y, prob))
    assert all(r["accuracy"] is None for r in rows if r["count"] == 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.integers(2, 6), st.integers(0, 10_000), st.integers(1, 20))
def test_ece_in_unit_interval(n: int, c: int, seed: int, bins: int) -> None:
    y, prob = random_probs(n, c, seed)
    for fn in (M.expected_calibration_error, M.adaptive_calibration_error):
        assert 0.0 <= fn(y, prob, n_bins=bins) <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)), min_size=1, max_size=8))
def test_ece_zero_when_every_bin_is_calibrated(groups: list[tuple[int, int]]) -> None:
    # Each group: n samples with confidence m/n of which exactly m are correct.
    c, ys, probs = 20, [], []
    for n, m_raw in groups:
        m = min(m_raw, n)
        conf = m / n
        row = np.r_[conf, np.full(c - 1, (1 - conf) / (c - 1))]
        probs += [row] * n
        ys += [0] * m + [1] * (n - m)
    assert M.expected_calibration_error(np.array(ys), np.array(probs)) == pytest.approx(
        0.0, abs=1e-12
    )


def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20_000, 5)) * 1.5
    # Labels drawn from softmax(logits): these logits are calibrated by construction.
    p = M.softmax(logits)
    y = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    over = 3.0 * logits
    t = M.fit_temperature(over, y)
    assert t == pytest.approx(3.0, rel=0.05)
    assert M.temperature_nll(over, y, t) <= M.temperature_nll(over, y, 1.0)
    assert M.fit_temperature(logits, y) == pytest.approx(1.0, rel=0.05)
    assert M.expected_calibration_error(y, M.softmax(over, t)) < M.expected_calibration_error(
        y, M.softmax(over)
    )


# --- selective prediction -------------------------------------------------------------------


def naive_aurc(y: np.ndarray, prob: np.ndarray) -> float:
    conf, wrong = prob.max(1), prob.argmax(1) != y
    risks = []
    for k in range(1, len(y) + 1):
        threshold = np.sort(conf)[::-1][k - 1]
        top = [i for i in range(len(y)) if conf[i] >= threshold]
        risks.append(sum(wrong[i] for i in top) / len(top))
    return float(np.mean(risks))


def test_aurc_matches_quadratic_reference() -> None:
    y, prob = random_probs(300, 4, seed=5)
    assert M.aurc(y, prob) == pytest.approx(naive_aurc(y, prob), abs=1e-12)


def test_risk_coverage_ties_are_order_free() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    prob = np.tile([0.6, 0.4], (6, 1))  # all tied, predictions all class 0: half wrong
    _, risk, _ = M.risk_coverage_curve(y, prob)
    np.testing.assert_allclose(risk, 0.5)
    perm = np.random.default_rng(0).permutation(6)
    np.testing.assert_allclose(M.risk_coverage_curve(y[perm], prob[perm])[1], risk)


def test_accuracy_at_coverage_and_table() -> None:
    y, prob = random_probs(400, 3, seed=7)
    assert M.accuracy_at_coverage(y, prob, coverage=1.0) == pytest.approx(M.accuracy(y, prob))
    top = np.argsort(-prob.max(1))[:360]
    ref = np.mean(prob[top].argmax(1) == y[top])
    assert M.accuracy_at_coverage(y, prob, coverage=0.9) == pytest.approx(ref)
    table = M.risk_coverage_table(y, prob, max_points=50)
    assert len(table) <= 50 and table[0]["coverage"] == 1 / 400 and table[-1]["coverage"] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 150), st.integers(2, 5), st.integers(0, 10_000))
def test_aurc_between_best_and_worst_ranking(n: int, c: int, seed: int) -> None:
    y, prob = random_probs(n, c, seed)
    wrong = (prob.argmax(1) != y).astype(float)
    k = np.arange(1, n + 1)
    worst = float(np.mean(np.minimum(k, wrong.sum()) / k))
    value = M.aurc(y, prob)
    assert M.excess_aurc(y, prob) >= -1e-12 and value <= worst + 1e-12
    assert 0.0 <= value <= 1.0


def test_aurc_extremes() -> None:
    prob = np.eye(3)[[0, 1, 2, 0]] * 0.9 + 0.1 / 3
    assert M.aurc(np.array([0, 1, 2, 0]), prob) == 0.0
    assert M.aurc(np.array([1, 2, 0, 1]), prob) == 1.0


# --- OOD detection --------------------------------------------------------------------------


def test_ood_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    s_in, s_out = rng.integers(0, 5, 300).astype(float), rng.integers(0, 4, 200).astype(float)
    ref = roc_auc_score(np.r_[np.ones(300), np.zeros(200)], np.r_[s_in, s_out])
    assert M.ood_auroc(s_in, s_out) == pytest.approx(ref)
    assert M.ood_auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert M.ood_auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0
    assert M.fpr_at_95_tpr(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0


def test_fpr_at_95_tpr_matches_direct_threshold() -> None:
    rng = np.random.default_rng(1)
    s_in, s_out = rng.normal(1.0, 1.0, 400), rng.normal(0.0, 1.0, 300)
    t = np.sort(s_in)[::-1][math.ceil(0.95 * 400) - 1]  # largest t with TPR ≥ 0.95
    assert M.fpr_at_95_tpr(s_in, s_out) == pytest.approx(np.mean(s_out >= t))


def test_scores_match_torch() -> None:
    logits = np.random.default_rng(2).normal(size=(50, 6)) * 5
    z = torch.tensor(logits)
    np.testing.assert_allclose(M.energy_score(logits), torch.logsumexp(z, 1).numpy())
    np.testing.assert_allclose(
        M.energy_score(logits, temperature=2.0), 2 * torch.logsumexp(z / 2, 1).numpy()
    )
    np.testing.assert_allclose(M.max_softmax_score(logits), torch.softmax(z, 1).max(1).values)


# --- group fairness -------------------------------------------------------------------------


def group_data(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, prob = random_probs(n, c, seed)
    g = np.random.default_rng(seed + 100).integers(0, 3, n)
    return y, prob, g


def direct_rates(y: np.ndarray, pred: np.ndarray, g: np.ndarray, pos: int) -> np.ndarray:
    rows = []
    for k in np.unique(g):
        yk, pk = y[g == k] == pos, pred[g == k] == pos
        tpr = pk[yk].mean() if yk.any() else 0.0
        fpr = pk[~yk].mean() if (~yk).any() else 0.0
        rows.append([pk.mean(), tpr, fpr])
    return np.array(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_group_metrics_match_fairlearn_and_numpy(seed: int) -> None:
    y, prob, g = group_data(300, 2, seed)
    pred = prob.argmax(1)
    rates = direct_rates(y, pred, g, 1)
    dpd = M.demographic_parity_difference(y, prob, groups=g)
    assert dpd == pytest.approx(demographic_parity_difference(y, pred, sensitive_features=g))
    assert dpd == pytest.approx(rates[:, 0].max() - rates[:, 0].min())
    dpr = M.demographic_parity_ratio(y, prob, groups=g)
    assert dpr == pytest.approx(demographic_parity_ratio(y, pred, sensitive_features=g))
    assert dpr == pytest.approx(rates[:, 0].min() / rates[:, 0].max())
    eod = M.equalized_odds_difference(y, prob, groups=g)
    assert eod == pytest.approx(equalized_odds_difference(y, pred, sensitive_features=g))
    assert eod == pytest.approx((rates[:, 1:].max(0) - rates[:, 1:].min(0)).max())


def test_rate_functions_match_fairlearn_in_metric_frame() -> None:
    y, prob, g = group_data(300, 2, 4)
    pred = prob.argmax(1)
    ours = {"sr": M.selection_rate, "tpr": M.true_positive_rate, "fpr": M.false_positive_rate}
    theirs = {"sr": fl_selection_rate, "tpr": fl_tpr, "fpr": fl_fpr}
    a = MetricFrame(metrics=ours, y_true=y, y_pred=pred, sensitive_features=g).by_group
    b = MetricFrame(metrics=theirs, y_true=y, y_pred=pred, sensitive_features=g).by_group
    np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float))


def test_group_without_positives_follows_fairlearn() -> None:
    y = np.array([0, 0, 0, 1, 1, 0])
    pred = np.array([1, 0, 0, 1, 0, 1])
    g = np.array([0, 0, 0, 1, 1, 1])  # group 0 has no positives: TPR counts as 0
    prob = np.eye(2)[pred]
    ref = equalized_odds_difference(y, pred, sensitive_features=g)
    assert M.equalized_odds_difference(y, prob, groups=g) == pytest.approx(ref)


def test_multiclass_group_metrics_are_worst_one_vs_rest() -> None:
    y, prob, g = group_data(400, 4, 9)
    pred = prob.argmax(1)
    dpd, dpr, eod = [], [], []
    for c in range(4):
        yc, pc = (y == c).astype(int), (pred == c).astype(int)
        dpd.append(demographic_parity_difference(yc, pc, sensitive_features=g))
        dpr.append(demographic_parity_ratio(yc, pc, sensitive_features=g))
        eod.append(equalized_odds_difference(yc, pc, sensitive_features=g))
    assert M.demographic_parity_difference(y, prob, groups=g) == pytest.approx(max(dpd))
    assert M.demographic_parity_ratio(y, prob, groups=g) == pytest.approx(min(dpr))
    assert M.equalized_odds_difference(y, prob, groups=g) == pytest.approx(max(eod))


def test_worst_group_accuracy_matches_loop() -> None:
    y, prob, g = group_data(300, 3, 11)
    accs = [np.mean(prob[g == k].argmax(1) == y[g == k]) for k in range(3)]
    assert M.worst_group_accuracy(y, prob, groups=g) == pytest.approx(min(accs))
    assert M.group_accuracy(y, prob, groups=g) == pytest.approx(dict(enumerate(accs)))


def test_parity_ratio_when_nobody_is_selected() -> None:
    y, g = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    prob = np.tile([0.9, 0.1], (4, 1))
    assert M.demographic_parity_ratio(y, prob, groups=g) == 1.0
    assert M.demographic_parity_difference(y, prob, groups=g) == 0.0
