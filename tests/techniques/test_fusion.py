"""The fusion models and the ``fusion`` technique, each checked against a hand computation or
an invariant: shapes for every pair of modalities, late fusion as the weighted sum of the
per-input logits, the gated unit's formula, tokens that pool back to the encoders' features,
modality dropout's rate and independence from dropped inputs, and a model that learns.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from support import tiny_task

from fivefold.data import load_task
from fivefold.data.config import DataConfig
from fivefold.data.task import Inputs, Split, Task
from fivefold.errors import ConfigError
from fivefold.models import MODELS, build_model
from fivefold.models.fusion import (
    METHODS,
    AttentionFusion,
    FusionClassifier,
    FusionEncoder,
    FusionOptions,
    GatedFusion,
    LateFusion,
    ModalityDropout,
    build_fusion_model,
    kept_count_probs,
    modality_tokens,
)
from fivefold.schema import build
from fivefold.techniques import TECHNIQUES
from fivefold.techniques.fusion import Fusion, FusionConfig
from fivefold.training.config import TrainConfig
from fivefold.training.fit import compose_fit, fit
from fivefold.training.hooks import FitContext
from fivefold.training.subject import Ensemble

PAIRS = [
    ("image", "tabular"),
    ("sequence", "tabular"),
    ("text", "tabular"),
    ("sequence", "sequence"),
    ("text", "sequence"),
    ("image", "text"),
]


def pair_task(kinds: tuple[str, ...]) -> Task:
    """One input per kind ("a_image", "b_tabular", ...): the tiny tasks of those kinds, whose
    labels agree row by row, joined into one task with dict inputs."""
    tasks = [tiny_task(kind, seed=i) for i, kind in enumerate(kinds)]
    keys = [f"{'abc'[i]}_{kind}" for i, kind in enumerate(kinds)]
    text = next((t for t in tasks if t.text_encoder is not None), None)
    splits = {}
    for name, split in tasks[0].splits.items():
        assert all(torch.equal(t.splits[name].y, split.y) for t in tasks)
        x = {key: t.splits[name].x for key, t in zip(keys, tasks, strict=True)}
        texts = text.splits[name].texts if text is not None else None
        splits[name] = Split(x, split.y, None, texts)
    inputs = {key: t.inputs["x"] for key, t in zip(keys, tasks, strict=True)}
    encoder = text.text_encoder if text is not None else None
    return Task("pair", splits, inputs, tasks[0].class_names, text_encoder=encoder)


def fusion_encoder(model: FusionClassifier) -> FusionEncoder:
    assert isinstance(model.encoder, FusionEncoder)
    return model.encoder


def small(method: str, **kw: object) -> FusionOptions:
    return FusionOptions(method=method, width=16, heads=2, **kw)  # type: ignore[arg-type]


# -- shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kinds", PAIRS, ids=["+".join(p) for p in PAIRS])
def test_shapes_for_every_pair_of_modalities(kinds: tuple[str, str]) -> None:
    task = pair_task(kinds)
    x, n = task.test.x, len(task.test)
    for method in METHODS:
        model = build_fusion_model(task, small(method), seed=0).eval()
        enc = fusion_encoder(model)
        feats = enc.modality_features(x)
        assert [f.shape for f in feats] == [(n, d) for d in enc.dims]
        with torch.no_grad():
            assert model.features(x).shape == (n, model.feature_dim)
            assert model(x).shape == (n, task.n_classes)
        assert model.head.in_features == model.feature_dim
        expected = {
            "early": 16,
            "gated": 16,
            "attention": 2 * 16,
            "late": sum(d + 1 for d in enc.dims),
        }[method]
        assert model.feature_dim == expected


def test_each_encoder_is_the_one_input_model_and_reads_its_own_input() -> None:
    task = pair_task(("sequence", "tabular"))
    model = build_fusion_model(task, small("early"), seed=0).eval()
    enc = fusion_encoder(model)
    # the defaults by kind: a 1-D CNN for 40-step sequences, an MLP for the table
    assert [type(e.body).__name__ for e in enc.encoders] == ["ConvNet1d", "Sequential"]
    # the sequence encoder equals the cnn built on the sequence alone, with the same weights
    alone = build_model(
        MODELS.spec_of("cnn", {}, "model"), tiny_task("sequence", seed=0)
    ).encoder.eval()
    alone.load_state_dict(enc.encoders[0].state_dict())
    with torch.no_grad():
        assert torch.allclose(enc.encoders[0](task.test.x), alone(task.test.x["a_sequence"]))
        # changing the table leaves the sequence features as they were
        other = dict(task.test.x, b_tabular=torch.randn_like(task.test.x["b_tabular"]))
        assert torch.equal(enc.encoders[0](other), enc.encoders[0](task.test.x))


def test_encoders_chosen_by_input_name_and_kind() -> None:
    task = pair_task(("sequence", "sequence"))
    options = small("early", encoders={"a_sequence": "gru", "sequence": "mlp"})
    enc = fusion_encoder(build_fusion_model(task, options, seed=0))
    assert [type(e.body).__name__ for e in enc.encoders] == ["RecurrentEncoder", "Sequential"]
    with pytest.raises(
        ConfigError,
        match=r"encoders\.tabular: model 'cnn' does not take the tabular input 'b_tabular'",
    ):
        build_fusion_model(
            pair_task(("image", "tabular")), small("early", encoders={"tabular": "cnn"}), 0
        )
    with pytest.raises(ConfigError, match="no input 'gyro'"):
        build_fusion_model(task, small("early", encoders={"gyro": "cnn"}), 0)


def test_one_input_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="two or more inputs; dataset 'tiny-image' has one: x"):
        build_fusion_model(tiny_task("image"), small("early"), 0)


# -- tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "model", "pool"),
    [
        ("sequence", "cnn", "mean"),
        ("image", "cnn", "mean"),
        ("sequence", "gru", "mean"),
        ("sequence", "transformer", "mean"),
        ("text", "text", "mean"),
        ("text", "transformer", "mean"),
    ],
)
def test_tokens_pool_back_to_the_encoder_features(kind: str, model: str, pool: str) -> None:
    task = tiny_task(kind)
    encoder = build_model(MODELS.spec_of(model, {}, "model"), task).encoder.eval()
    x = task.test.x
    with torch.no_grad():
        found = modality_tokens(encoder, x)
        assert found is not None
        tokens, real = found
        weight = real.unsqueeze(-1).float()
        pooled = (tokens * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        assert torch.allclose(pooled, encoder(x), atol=1e-5)


def test_text_cnn_tokens_max_pool_back_and_mlp_has_none() -> None:
    task = tiny_task("text")
    spec = MODELS.spec_of("text", {"encoder": "cnn"}, "model")
    encoder = build_model(spec, task).encoder.eval()
    with torch.no_grad():
        found = modality_tokens(encoder, task.test.x)
        assert found is not None
        tokens, real = found
        assert torch.allclose(
            tokens.masked_fill(~real.unsqueeze(-1), 0).amax(1), encoder(task.test.x)
        )
    mlp = build_model(MODELS.spec_of("mlp", {}, "model"), tiny_task("tabular")).encoder
    assert modality_tokens(mlp, tiny_task("tabular").test.x) is None


# -- late fusion ----------------------------------------------------------------------------


def _late_reference(model: FusionClassifier, x: Inputs, keep: torch.Tensor | None) -> torch.Tensor:
    """sum_k w_k l_k with per-input logits l_k = W_k f_k + u_k + b read off the head."""
    enc = fusion_encoder(model)
    assert isinstance(enc.fusion, LateFusion)
    feats = enc.modality_features(x)
    base = torch.softmax(enc.fusion.logits.detach(), 0) if enc.fusion.logits is not None else None
    m = len(feats)
    base = base if base is not None else torch.full((m,), 1.0 / m)
    w = base.expand(len(feats[0]), m).clone()
    if keep is not None:
        w = w * keep / (w * keep).sum(1, keepdim=True)
    out = torch.zeros(len(feats[0]), model.head.out_features)
    col = 0
    for k, f in enumerate(feats):
        weight = model.head.weight[:, col : col + f.shape[1]]
        u = model.head.weight[:, col + f.shape[1]]
        logits_k = f @ weight.T + u + model.head.bias
        out += w[:, k : k + 1] * logits_k
        col += f.shape[1] + 1
    return out


@pytest.mark.parametrize("weights", ["learned", "mean"])
def test_late_fusion_is_the_weighted_sum_of_per_input_logits(weights: str) -> None:
    task = pair_task(("sequence", "tabular", "text"))
    options = small("late", late_weights=weights, modality_dropout=0.5)
    model = build_fusion_model(task, options, seed=0).eval()
    enc = fusion_encoder(model)
    assert isinstance(enc.fusion, LateFusion)
    with torch.no_grad():
        if enc.fusion.logits is not None:
            enc.fusion.logits.copy_(torch.tensor([0.7, -1.2, 0.3]))
        model.head.bias.copy_(torch.tensor([0.5, -0.25, 1.0]))
        x = task.test.x
        assert torch.allclose(model(x), _late_reference(model, x, None), atol=1e-5)
        # with modality dropout (only it in training mode): the weights renormalise
        enc.modality_dropout.train()
        state = enc.modality_dropout.generator.get_state()
        out = model(x)
        draw = torch.Generator()
        draw.set_state(state)
        keep = ModalityDropout(3, 0.5, draw).sample(len(task.test))
        assert (keep.sum(1) < 3).any()
        assert torch.allclose(out, _late_reference(model, x, keep), atol=1e-5)


# -- gated unit ----------------------------------------------------------------------------


def test_gated_unit_matches_its_formula_and_gates_sum_to_one() -> None:
    torch.manual_seed(0)
    dims = [5, 3, 4]
    gmu = GatedFusion(dims, width=6)
    feats = [torch.randn(10, d) for d in dims]
    z = gmu.gates(feats, None)
    assert z.shape == (10, 3, 6)
    assert torch.allclose(z.sum(1), torch.ones(10, 6))
    h = [torch.tanh(f @ p.weight.T + p.bias) for f, p in zip(feats, gmu.proj, strict=True)]
    scores = (torch.cat(feats, 1) @ gmu.gate.weight.T + gmu.gate.bias).view(10, 3, 6)
    expected = sum(torch.softmax(scores, 1)[:, k] * h[k] for k in range(3))
    assert torch.allclose(gmu(feats, None), expected, atol=1e-6)
    keep = torch.tensor([[1.0, 0.0, 1.0]] * 5 + [[0.0, 0.0, 1.0]] * 5)
    zk = gmu.gates(feats, keep)
    assert torch.allclose(zk.sum(1), torch.ones(10, 6))
    assert (
        (zk[:5, 1] == 0).all()
        and (zk[5:, :2] == 0).all()
        and torch.allclose(zk[5:, 2], torch.ones(5, 6))
    )


# -- modality dropout -----------------------------------------------------------------------


@pytest.mark.parametrize(("m", "p"), [(2, 0.3), (2, 0.5), (3, 0.4), (4, 0.25)])
def test_modality_dropout_rate_and_never_all(m: int, p: float) -> None:
    n = 20000
    keep = ModalityDropout(m, p, torch.Generator().manual_seed(1)).sample(n)
    assert keep.shape == (n, m) and set(keep.unique().tolist()) <= {0.0, 1.0}
    assert (keep.sum(1) >= 1).all(), "a sample lost every input"
    sd = math.sqrt(p * (1 - p) / n)
    for k in range(m):
        rate = 1 - keep[:, k].mean().item()
        assert abs(rate - p) < 4.5 * sd, (k, rate, p)
    # the law: independent keeps with odds r, conditioned on keeping one; for two inputs each
    # is dropped with q = p / (1 - p), so both are kept with (1 - q)^2 / (1 - q^2)
    if m == 2 and p < 0.5:
        q = p / (1 - p)
        both = (1 - q) ** 2 / (1 - q**2)
        seen = (keep.sum(1) == 2).float().mean().item()
        assert abs(seen - both) < 4.5 * math.sqrt(both * (1 - both) / n)
    if m == 2 and p == 0.5:
        assert (keep.sum(1) == 1).all()  # at the bound every sample keeps exactly one
    counts = torch.bincount(keep.sum(1).long() - 1, minlength=m).double() / n
    assert torch.allclose(counts, kept_count_probs(m, p), atol=4.5 * 0.5 / math.sqrt(n))


def test_kept_count_probs_is_the_conditioned_binomial() -> None:
    # brute force over the 2^M keep patterns with the odds solved by kept_count_probs
    m, p = 3, 0.35
    probs = kept_count_probs(m, p)
    k = torch.arange(1, m + 1, dtype=torch.float64)
    assert math.isclose(1 - float((probs * k).sum()) / m, p, abs_tol=1e-9)
    r = (probs[1] / probs[0]).item()  # P(K=2) / P(K=1) = C(3,2) r^2 / (C(3,1) r) = r
    q = 1 / (1 + r)
    patterns = [[(i >> j) & 1 for j in range(m)] for i in range(1, 2**m)]
    weight = [math.prod(1 - q if b else q for b in pat) for pat in patterns]
    total = sum(weight)
    dropped = sum(w for w, pat in zip(weight, patterns, strict=True) if not pat[0]) / total
    assert math.isclose(dropped, p, abs_tol=1e-9)
    assert torch.equal(kept_count_probs(2, 0.0), torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_modality_dropout_is_seeded_and_off_in_eval() -> None:
    a = ModalityDropout(2, 0.4, torch.Generator().manual_seed(3)).sample(500)
    b = ModalityDropout(2, 0.4, torch.Generator().manual_seed(3)).sample(500)
    c = ModalityDropout(2, 0.4, torch.Generator().manual_seed(4)).sample(500)
    assert torch.equal(a, b) and not torch.equal(a, c)
    task = pair_task(("sequence", "tabular"))
    dropped = build_fusion_model(task, small("early", modality_dropout=0.5), seed=0)
    plain = build_fusion_model(task, small("early"), seed=0)
    assert all(
        torch.equal(p, q) for p, q in zip(dropped.parameters(), plain.parameters(), strict=True)
    )
    x = task.test.x
    with torch.no_grad():
        assert torch.equal(dropped.eval()(x), plain.eval()(x))  # identity in eval mode
        fusion_encoder(dropped).modality_dropout.train()
        fusion_encoder(plain).modality_dropout.train()
        assert not torch.equal(dropped(x), plain(x))  # and active in training mode
    # a whole model in training mode is reproducible for a seed
    twin = [
        build_fusion_model(task, small("gated", modality_dropout=0.3), seed=5).train() for _ in "ab"
    ]
    outs = []
    for model in twin:
        torch.manual_seed(0)  # the encoders' own dropout draws from the global stream
        outs.append(model(x))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("method", METHODS)
def test_a_dropped_input_has_no_influence(method: str) -> None:
    task = pair_task(("sequence", "text"))
    model = build_fusion_model(task, small(method, modality_dropout=0.5), seed=0).eval()
    enc = fusion_encoder(model)
    enc.modality_dropout.train()  # only the modality dropout draws
    x = task.test.x
    state = enc.modality_dropout.generator.get_state()
    with torch.no_grad():
        out = model(x)
        enc.modality_dropout.generator.set_state(state)
        noisy = dict(x, a_sequence=torch.rand_like(x["a_sequence"]))
        out_noisy = model(noisy)
    draw = torch.Generator()
    draw.set_state(state)
    keep = ModalityDropout(2, 0.5, draw).sample(len(task.test))
    gone = keep[:, 0] == 0
    assert gone.any() and (~gone).any()
    assert torch.allclose(out[gone], out_noisy[gone], atol=1e-6)
    assert not torch.allclose(out[~gone], out_noisy[~gone], atol=1e-4)


def _fused_logits(model: FusionClassifier, x: Inputs, keep: torch.Tensor | None) -> torch.Tensor:
    """The model's logits with the fusion block handed the keep mask ``keep`` explicitly."""
    enc = fusion_encoder(model)
    if isinstance(enc.fusion, AttentionFusion):
        fused = enc.fusion(enc.modality_tokens(x), keep)
    else:
        fused = enc.fusion(enc.modality_features(x), keep)
    out: torch.Tensor = model.head(fused)
    return out


@pytest.mark.parametrize("method", METHODS)
def test_an_all_zero_input_is_missing_as_modality_dropout_drops_it(method: str) -> None:
    task = pair_task(("sequence", "text"))
    x = task.test.x
    assert isinstance(x, dict)
    n = len(task.test)
    gone = torch.arange(n) % 2 == 0
    zeroed = dict(x, a_sequence=torch.where(gone[:, None, None], 0.0, x["a_sequence"]))
    keep = torch.stack([(~gone).float(), torch.ones(n)], dim=1)
    model = build_fusion_model(task, small(method, modality_dropout=0.3), seed=0).eval()
    with torch.no_grad():
        out = model(zeroed)
        assert torch.allclose(out, _fused_logits(model, zeroed, keep), atol=1e-5)
        assert torch.allclose(out[~gone], model(x)[~gone], atol=1e-5)  # other rows untouched
        # nothing present: every input is read (there is nothing to renormalise over)
        blank = {k: torch.zeros_like(v) for k, v in x.items()}
        assert torch.allclose(model(blank), _fused_logits(model, blank, None), atol=1e-5)
    literal = build_fusion_model(task, small(method, missing="none"), seed=0).eval()
    with torch.no_grad():
        assert torch.allclose(literal(zeroed), _fused_logits(literal, zeroed, None), atol=1e-5)
        if method != "early":  # early fusion of an untrained CNN on zeros is zeros either way
            dropped = _fused_logits(literal, zeroed, keep)
            assert not torch.allclose(literal(zeroed), dropped, atol=1e-4)


# -- training -------------------------------------------------------------------------------


def _train(epochs: int) -> TrainConfig:
    raw = {"epochs": epochs, "batch_size": 16, "checkpoint": False, "patience": None}
    return build(TrainConfig, raw, "train")


def test_fusion_learns_basic_motions() -> None:
    torch.set_num_threads(1)
    task = load_task(DataConfig(dataset="basic_motions"))
    assert task.n_classes == 4 and len(task.inputs) == 2
    options = FusionOptions(method="late", modality_dropout=0.2)
    model = build_fusion_model(task, options, seed=0)
    result = fit(model, task, FitContext(_train(12), seed=0))
    result.model.eval()
    with torch.no_grad():
        accuracy = (result.model(task.test.x).argmax(1) == task.test.y).float().mean().item()
    # 4 balanced classes: chance is 0.25, and 40 test series make 0.6 far above it
    assert accuracy >= 0.6, accuracy


def test_technique_replaces_the_model_and_reports(tmp_path: Path) -> None:
    task = pair_task(("image", "tabular"))
    spec = TECHNIQUES.spec({"technique": "fusion", "method": "late", "width": 16}, "r")
    technique = spec.instantiate()
    ctx = FitContext(_train(2), seed=7, techniques=[technique], cache_key="pool")
    result = compose_fit([technique], fit)(torch.nn.Linear(1, 1), task, ctx)
    model = result.model
    assert isinstance(model, FusionClassifier)
    # built from the task and the seed: the factory gives the same starting weights
    assert ctx.build_model is not None
    again = ctx.build_model(7)
    first = build_fusion_model(task, technique.config.options(), seed=7)
    assert all(
        torch.equal(p, q) for p, q in zip(again.parameters(), first.parameters(), strict=True)
    )
    report = result.extras["fusion"]
    enc = fusion_encoder(model)
    assert report["method"] == "late" and report["inputs"] == ["a_image", "b_tabular"]
    assert report["feature_sizes"] == {"a_image": enc.dims[0], "b_tabular": enc.dims[1]}
    params = report["params"]
    total = sum(params["encoders"].values()) + params["fusion"] + params["head"]
    assert total == sum(p.numel() for p in model.parameters())
    assert isinstance(enc.fusion, LateFusion)
    learned = torch.softmax(enc.fusion.logits.detach(), 0).tolist()  # type: ignore[union-attr]
    assert list(report["late_weights"].values()) == pytest.approx(learned)
    assert sum(report["late_weights"].values()) == pytest.approx(1.0)
    assert "fusion=" in ctx.cache_key and ctx.cache_key.startswith("pool")


def test_fusion_then_ensemble_is_an_ensemble_of_fusion_models() -> None:
    task = pair_task(("sequence", "tabular"))
    specs = [
        TECHNIQUES.spec({"technique": "fusion", "method": "gated", "width": 16}, "r"),
        TECHNIQUES.spec({"technique": "ensemble", "members": 2}, "r"),
    ]
    techniques = [s.instantiate() for s in specs]
    ctx = FitContext(_train(1), seed=0, techniques=techniques)
    result = compose_fit(techniques, fit)(torch.nn.Linear(1, 1), task, ctx)
    assert isinstance(result.model, Ensemble)
    members = list(result.model.members)
    assert len(members) == 2 and all(isinstance(m, FusionClassifier) for m in members)
    a, b = (torch.cat([p.flatten() for p in m.parameters()]) for m in members)
    assert not torch.equal(a, b)  # members of their own seeds


def test_plan_time_checks() -> None:
    cnn = MODELS.spec_of("cnn", {}, "model")
    one = build_model(cnn, tiny_task("image"))
    with pytest.raises(ConfigError, match="two or more inputs; the dataset has one: x"):
        Fusion.check_model(FusionConfig(), one, ["fusion"])
    two = build_model(cnn, pair_task(("sequence", "sequence")))
    Fusion.check_model(FusionConfig(), two, ["fusion", "ssl"])  # fusion first: fine
    with pytest.raises(ConfigError, match="list it before 'ssl'"):
        Fusion.check_model(FusionConfig(), two, ["ssl", "fusion"])
    with pytest.raises(ConfigError, match=r"encoders\.gyro: the dataset has no input 'gyro'"):
        Fusion.check_model(FusionConfig(encoders={"gyro": "cnn"}), two, ["fusion"])
    Fusion.check_model(FusionConfig(encoders={"b_sequence": "gru", "sequence": "cnn"}), two, [])


def test_config_rejects_unknown_models_and_heads_that_do_not_divide() -> None:
    with pytest.raises(ConfigError, match=r"encoders\.gyroscope: unknown model 'gruu'.*'gru'"):
        build(FusionConfig, {"encoders": {"gyroscope": "gruu"}}, "fusion")
    with pytest.raises(ConfigError, match="re-encodes its input"):
        build(FusionConfig, {"encoders": {"text": "minilm"}}, "fusion")
    with pytest.raises(ConfigError, match="must divide width"):
        build(FusionConfig, {"method": "attention", "width": 30, "heads": 4}, "fusion")
    with pytest.raises(ConfigError, match="modality_dropout"):
        build(FusionConfig, {"modality_dropout": 0.6}, "fusion")


def test_deepcopy_keeps_the_dropout_stream() -> None:
    model = build_fusion_model(
        pair_task(("image", "text")), small("attention", modality_dropout=0.4), 1
    )
    twin = copy.deepcopy(model)
    a = fusion_encoder(model).modality_dropout.sample(64)
    b = fusion_encoder(twin).modality_dropout.sample(64)
    assert torch.equal(a, b)
