"""Test-time adaptation: what bn and tent change, what they keep, and how pillars see them."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from fivefold.errors import ConfigError
from fivefold.techniques.adaptive.tta import (
    AdaptingSubject,
    TestTimeAdaptation,
    TTAConfig,
    adapt_stream,
    affine_parameters,
    entropy,
)
from fivefold.training.subject import Subject


def _net(norm: str = "batch") -> nn.Module:
    torch.manual_seed(0)
    layer: nn.Module = nn.BatchNorm1d(8) if norm == "batch" else nn.LayerNorm(8)
    net = nn.Sequential(nn.Linear(4, 8), layer, nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    # trained-looking running statistics, far from what the shifted data will have
    if norm == "batch":
        with torch.no_grad():
            net[1].running_mean.fill_(0.3)
            net[1].running_var.fill_(2.0)
            net[1].weight.uniform_(0.5, 1.5)
            net[1].bias.uniform_(-0.2, 0.2)
    return net.eval()


def _shifted(n: int = 50, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=gen) * 3 + 2


def test_entropy_matches_definition() -> None:
    logits = torch.tensor([[0.0, 0.0], [10.0, -10.0]])
    h = entropy(logits)
    assert h[0].item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert h[1].item() == pytest.approx(0.0, abs=1e-6)


def test_bn_uses_each_batch_statistics_and_learns_nothing() -> None:
    net, x = _net(), _shifted(50)
    before = copy.deepcopy(net.state_dict())
    out = adapt_stream(net, x, TTAConfig(method="bn", batch_size=20))
    # manual: each batch normalised with its own mean and biased variance; 20, 20, 10 rows
    ref = copy.deepcopy(_net())
    lin, bn, rest = ref[0], ref[1], ref[4]
    expect = []
    for rows in (slice(0, 20), slice(20, 40), slice(40, 50)):
        h = lin(x[rows])
        z = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn.eps)
        expect.append(rest(torch.relu(z * bn.weight + bn.bias)))
    torch.testing.assert_close(out, torch.cat(expect).detach(), rtol=1e-5, atol=1e-5)
    for name, value in net.state_dict().items():
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(value, before[name]), name


def test_trailing_single_row_joins_the_previous_batch() -> None:
    out = adapt_stream(_net(), _shifted(41), TTAConfig(method="bn", batch_size=20))
    assert out.shape == (41, 3)


def test_tent_changes_only_affine_parameters() -> None:
    net, x = _net(), _shifted(60)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    affine = {id(p) for p in affine_parameters(net)}
    names = {n for n, p in net.named_parameters() if id(p) in affine}
    assert names == {"1.weight", "1.bias"}
    adapt_stream(net, x, TTAConfig(method="tent", batch_size=20, lr=1e-2))
    after = net.state_dict()
    for name in ("0.weight", "0.bias", "4.weight", "4.bias"):
        assert torch.equal(after[name], before[name]), f"{name} must stay bit-identical"
    assert not torch.equal(after["1.weight"], before["1.weight"])
    assert not torch.equal(after["1.bias"], before["1.bias"])


def test_tent_lowers_entropy_on_the_stream() -> None:
    net, x = _net(), _shifted(400)
    start = copy.deepcopy(net)
    cfg = TTAConfig(method="tent", batch_size=50, lr=5e-2)
    adapt_stream(net, x, cfg)
    bn_only = adapt_stream(start, x, TTAConfig(method="bn", batch_size=50))
    tented = adapt_stream(copy.deepcopy(net), x, TTAConfig(method="bn", batch_size=50))
    assert entropy(tented).mean() < entropy(bn_only).mean()


def test_tent_predicts_each_batch_before_its_update() -> None:
    net, x = _net(), _shifted(40)
    out = adapt_stream(copy.deepcopy(net), x, TTAConfig(method="tent", batch_size=20, lr=1e-1))
    first = adapt_stream(copy.deepcopy(net), x[:20], TTAConfig(method="bn", batch_size=20))
    torch.testing.assert_close(out[:20], first)


def test_episodic_reset_restores_the_model_after_every_batch() -> None:
    net, x = _net(), _shifted(60)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    cfg = TTAConfig(method="tent", batch_size=20, lr=1e-1, episodic=True)
    out = adapt_stream(net, x, cfg)
    for name, value in net.state_dict().items():
        assert torch.equal(value, before[name]), name
    # episodic: every batch is predicted as the first one would be, from the trained weights
    for rows in (slice(20, 40), slice(40, 60)):
        alone = adapt_stream(copy.deepcopy(_net()), x[rows], cfg)
        torch.testing.assert_close(out[rows], alone)


def test_adapting_subject_keeps_the_trained_model_and_adapts_per_input() -> None:
    net = _net()
    trained = copy.deepcopy(net.state_dict())
    subject = AdaptingSubject(Subject(net), TTAConfig(method="tent", lr=1e-1, batch_size=16))
    assert subject.adapts
    x1, x2 = _shifted(48, 1), _shifted(48, 2)
    p1 = subject.predict_proba(x1)
    subject.predict_proba(x2)
    subject.reset()
    # each input is adapted on from the trained weights: order does not matter
    fresh = AdaptingSubject(Subject(_net()), subject.config)
    torch.testing.assert_close(fresh.predict_proba(x1), p1)
    for name, value in net.state_dict().items():
        assert torch.equal(value, trained[name]), "the trained model itself never changes"
    plain = Subject(_net()).predict_proba(x1)
    torch.testing.assert_close(subject.unadapted().predict_proba(x1), plain)
    assert subject.differentiable() is subject.unadapted().model
    assert "tent" in subject.adaptation


def test_adapting_subject_adapts_every_member_of_an_ensemble() -> None:
    members = [_net(), _net()]
    with torch.no_grad():
        members[1][0].weight.mul_(0.5)
    subject = AdaptingSubject(Subject(members), TTAConfig(method="bn", batch_size=25))
    x = _shifted(50)
    each = [adapt_stream(copy.deepcopy(m), x, subject.config).softmax(1) for m in members]
    torch.testing.assert_close(subject.predict_proba(x), (each[0] + each[1]) / 2)
    assert subject.member_proba(x).shape == (2, 50, 3)


def test_plan_time_check_names_the_norm_option() -> None:
    plain = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(ConfigError, match=r'model\.norm = "batch"'):
        TestTimeAdaptation.check_model(TTAConfig(method="tent"), plain, ["tta"])
    with pytest.raises(ConfigError, match='method = "tent"'):
        TestTimeAdaptation.check_model(TTAConfig(method="bn"), _net("layer"), ["tta"])
    TestTimeAdaptation.check_model(TTAConfig(method="tent"), _net("layer"), ["tta"])
    TestTimeAdaptation.check_model(TTAConfig(method="bn"), _net(), ["tta"])


def test_tent_works_when_predictions_run_under_no_grad() -> None:
    subject = AdaptingSubject(Subject(_net()), TTAConfig(method="tent", batch_size=16))
    with torch.no_grad():
        assert subject.predict(_shifted(32)).shape == (32,)


def test_pillars_report_before_and_after_adaptation() -> None:
    from support import tiny_task

    from fivefold.pillars.generalization import GeneralizationPillar
    from fivefold.pillars.robustness.pillar import RobustnessPillar
    from fivefold.schema import build

    task = tiny_task("image", n=192)
    shifted = task.test.x * 0.4 + 0.5  # a contrast and brightness shift
    task = type(task)(**{**task.__dict__, "shifts": {"dim": type(task.test)(shifted, task.test.y)}})
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(256, 3),
    ).eval()
    subject = AdaptingSubject(Subject(net), TTAConfig(method="bn", batch_size=16))
    gen = GeneralizationPillar(build(GeneralizationPillar.Config, {}, "g")).evaluate(
        subject, task, 0
    )
    plain = GeneralizationPillar(build(GeneralizationPillar.Config, {}, "g")).evaluate(
        Subject(copy.deepcopy(net)), task, 0
    )
    m = gen.metrics
    assert m["test_accuracy_unadapted"].value == plain.metrics["test_accuracy"].value
    assert m["shift_accuracy_mean_unadapted"].value == plain.metrics["shift_accuracy_mean"].value
    gain = m["shift_accuracy_mean"].value - m["shift_accuracy_mean_unadapted"].value
    assert m["shift_adaptation_gain"].value == pytest.approx(gain)
    assert any("bn adaptation" in n for n in gen.notes)
    assert "test_accuracy_unadapted" not in plain.metrics
    cfg = build(RobustnessPillar.Config, {"severities": [5], "eps_linf": []}, "r")
    rob = RobustnessPillar(cfg).evaluate(subject, task, 0)
    rows = rob.tables["corruptions"]
    assert rows and all("accuracy_unadapted" in r for r in rows)
    before = sum(r["accuracy_unadapted"] for r in rows) / len(rows)
    assert rob.metrics["mean_corruption_accuracy_unadapted"].value == pytest.approx(before)
    assert any("unadapted model" in n for n in rob.notes)
