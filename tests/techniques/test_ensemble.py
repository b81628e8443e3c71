"""The ensemble technique: SAMME against the formula and scikit-learn, stacking's folds never
leak, the meta-learner against scikit-learn's logistic regression, and the methods end to end.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.ensemble import AdaBoostClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from support import tiny_task

from fivefold.models import MODELS, build_model, prepare_task
from fivefold.runner.trial import _fresh_model
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.ensemble.methods import (
    bootstrap_rows,
    fit_meta_learner,
    fold_rows,
    out_of_fold,
    samme_step,
)
from fivefold.training.combiners import VoteCombiner
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext, compose_subject
from fivefold.training.subject import Subject


def test_samme_step_hand_computed() -> None:
    # 3 classes, 4 equally weighted rows, the first misclassified: err = 1/4,
    # alpha = log((1 - 1/4) / (1/4)) + log(3 - 1) = log 3 + log 2 = log 6,
    # the missed row's weight grows by e^alpha = 6: (6, 1, 1, 1) / 9.
    step = samme_step(torch.full((4,), 0.25), torch.tensor([True, False, False, False]), 3, True)
    assert step.error == pytest.approx(0.25)
    assert step.weight == pytest.approx(math.log(6))
    assert step.sample_weights.tolist() == pytest.approx([6 / 9, 1 / 9, 1 / 9, 1 / 9])
    assert step.keep and not step.stop


def test_samme_edge_cases() -> None:
    w = torch.full((4,), 0.25)
    perfect = samme_step(w, torch.zeros(4, dtype=torch.bool), 3, False)
    assert perfect.keep and perfect.weight == 1.0 and perfect.stop
    chance = samme_step(w, torch.tensor([True, True, True, False]), 3, False)  # 0.75 >= 2/3
    assert not chance.keep and chance.stop
    assert samme_step(w, torch.tensor([True, True, True, False]), 3, True).keep  # first kept


def test_samme_replays_scikit_learn() -> None:
    """Feed scikit-learn's own stumps' training errors through samme_step: the same member
    weights and errors; VoteCombiner on their votes gives AdaBoost's predict_proba."""
    x, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
    ada = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=8, random_state=0)
    ada.fit(x, y)
    weights = torch.full((len(y),), 1 / len(y), dtype=torch.float64)
    alphas, errors = [], []
    for k, tree in enumerate(ada.estimators_):
        miss = torch.as_tensor(tree.predict(x) != y)
        step = samme_step(weights, miss, 3, first=k == 0)
        alphas.append(step.weight)
        errors.append(step.error)
        weights = step.sample_weights
    assert alphas == pytest.approx(ada.estimator_weights_[: len(alphas)].tolist(), rel=1e-9)
    assert errors == pytest.approx(ada.estimator_errors_[: len(errors)].tolist(), rel=1e-9)
    votes = [
        torch.nn.functional.one_hot(torch.as_tensor(t.predict(x)), 3).double() * 10.0
        for t in ada.estimators_
    ]
    combined = VoteCombiner(torch.as_tensor(ada.estimator_weights_)).double()(votes).exp()
    np.testing.assert_allclose(combined.numpy(), ada.predict_proba(x), atol=1e-6)


def test_folds_partition_and_stratify() -> None:
    y = torch.tensor([0] * 30 + [1] * 20 + [2] * 10)
    folds = fold_rows(y, 5, torch.Generator().manual_seed(0))
    every = torch.cat(folds).sort().values
    assert torch.equal(every, torch.arange(60))
    for f in folds:
        assert torch.bincount(y[f], minlength=3).tolist() == [6, 4, 2]


def test_out_of_fold_never_predicts_a_row_its_member_saw() -> None:
    """Members that memorise their training rows (one-hot on a seen row, uniform otherwise):
    out-of-fold probabilities must be uniform everywhere, or a member saw the row it predicts."""
    n, c = 40, 4
    y = torch.arange(n) % c
    folds = fold_rows(y, 4, torch.Generator().manual_seed(1))
    seen: list[set[int]] = []

    def train_fold(f: int, rows: torch.Tensor):  # type: ignore[no-untyped-def]
        memory = set(rows.tolist())
        seen.append(memory)

        def predict(held: torch.Tensor) -> torch.Tensor:
            out = torch.full((len(held), c), 1 / c)
            for i, r in enumerate(held.tolist()):
                if r in memory:
                    out[i] = torch.nn.functional.one_hot(y[r], c).float()
            return out

        return [predict, predict]

    proba = out_of_fold(train_fold, n, folds, 2, c)
    assert torch.allclose(proba, torch.full_like(proba, 1 / c))
    for f, held in enumerate(folds):
        assert not seen[f] & set(held.tolist())
        assert len(seen[f]) + len(held) == n


def test_meta_learner_matches_scikit_learn() -> None:
    gen = torch.Generator().manual_seed(0)
    k, n, c = 3, 200, 3
    y = torch.randint(c, (n,), generator=gen)
    logits = torch.randn(k, n, c, generator=gen) + 2.0 * torch.nn.functional.one_hot(y, c)
    proba = torch.softmax(logits, dim=2)
    l2 = 1e-2
    meta = fit_meta_learner(proba, y, l2)
    features = proba.permute(1, 0, 2).flatten(1).numpy()
    # scikit-learn minimises C * sum CE + ||W||^2 / 2, i.e. mean CE + ||W||^2 / (2 C n)
    ref = LogisticRegression(C=1 / (2 * l2 * n), tol=1e-10, max_iter=10_000).fit(features, y)
    with torch.no_grad():
        ours = torch.softmax(meta.meta(torch.as_tensor(features)), 1).numpy()
    np.testing.assert_allclose(ours, ref.predict_proba(features), atol=2e-3)


def test_bootstrap_keeps_about_63_percent_unique_rows() -> None:
    rows = bootstrap_rows(5000, 1.0, torch.Generator().manual_seed(0))
    assert len(rows) == 5000
    assert len(torch.unique(rows)) / 5000 == pytest.approx(1 - math.exp(-1), abs=0.02)


def _run(method: str, members: int = 3, **options: object):  # type: ignore[no-untyped-def]
    spec = MODELS.spec("mlp")
    task = prepare_task(spec, tiny_task("tabular", n=150))
    train = build(TrainConfig, {"epochs": 6, "batch_size": 16, "checkpoint": False}, "train")
    raw = {"technique": "ensemble", "method": method, "members": members, **options}
    technique = TECHNIQUES.spec(raw, "recipe").instantiate()
    torch.manual_seed(0)
    model = build_model(spec, task)
    ctx = FitContext(train, 0, [technique])
    ctx.build_model = functools.partial(_fresh_model, spec, task)
    result = compose_fit([technique], fit)(model, task, ctx)
    subject = compose_subject([technique], Subject(result.model), task, ctx)
    return task, train, spec, result, subject


@pytest.mark.parametrize("method", ["deep", "bagging", "stacking"])
def test_member_zero_is_the_single_model(method: str) -> None:
    task, train, spec, result, subject = _run(method, folds=2)
    torch.manual_seed(0)
    single = fit(build_model(spec, task), task, FitContext(train, 0)).model
    if method == "deep":
        pairs = zip(
            single.state_dict().values(), subject.members[0].state_dict().values(), strict=True
        )
        for a, b in pairs:
            assert torch.allclose(a, b, atol=1e-5)
    report = result.extras["ensemble"]
    assert report["members"] == len(subject.members) == 3
    assert report["trained_together"] is True and report["one_by_one_because"] is None


def test_deep_ensemble_probabilities_are_the_members_mean() -> None:
    task, _, _, _, subject = _run("deep")
    x = task.test.x
    members = [torch.softmax(m.eval()(x), 1) for m in subject.members]
    assert torch.allclose(subject.predict_proba(x), torch.stack(members).mean(0), atol=1e-6)
    assert torch.allclose(subject.member_proba(x), torch.stack(members), atol=1e-6)
    assert not subject.has_logits


def test_snapshot_members_are_the_cycles() -> None:
    _, train, _, result, subject = _run("snapshot", members=3)
    report = result.extras["ensemble"]
    assert len(subject.members) == 3 and report["epochs_per_cycle"] == train.epochs // 3
    diffs = [
        max(
            float((p - q).detach().abs().max())
            for p, q in zip(a.parameters(), b.parameters(), strict=True)
        )
        for a, b in itertools.pairwise(subject.members)
    ]
    assert min(diffs) > 0, "every cycle ends in other weights"


def test_boosting_reports_its_weights_and_votes() -> None:
    task, _, _, result, subject = _run("boosting", members=3)
    report = result.extras["ensemble"]
    assert len(report["member_weights"]) == len(subject.members)
    assert isinstance(subject.combiner, VoteCombiner)
    weights = subject.combiner.weights.tolist()
    assert weights == pytest.approx(report["member_weights"], rel=1e-6)
    for err, alpha in zip(report["weighted_errors"], report["member_weights"], strict=False):
        if 0 < err < 1 - 1 / task.n_classes:
            assert alpha == pytest.approx(math.log((1 - err) / err) + math.log(2), rel=1e-6)


def test_stacking_meta_learner_and_one_by_one_agree() -> None:
    _, _, _, together, s1 = _run("stacking", folds=2)
    _, _, _, alone, s2 = _run("stacking", folds=2, together=False)
    assert alone.extras["ensemble"]["trained_together"] is False
    x = tiny_task("tabular", n=150).test.x
    assert torch.allclose(s1.predict_proba(x), s2.predict_proba(x), atol=1e-3)
    assert torch.equal(s1.predict(x), s2.predict(x))
    assert together.extras["ensemble"]["fits"] == 3 * 3
