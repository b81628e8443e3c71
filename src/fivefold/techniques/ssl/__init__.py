"""Self-supervised pretraining of the encoder (masked modelling or SimCLR), then fine-tuning.

``wrap_fit`` pretrains ``model.encoder`` on the unlabeled pool — the training inputs without
their labels plus any "unlabeled" split — and then calls the inner fit: full fine-tuning, or a
linear probe that trains the head on a frozen encoder (kept in evaluation mode: fixed
batch-norm statistics, no dropout). After pretraining, batch-norm statistics are re-estimated
on the clean pool, since pretraining saw only masked or augmented inputs. Before it, the
encoder's weights are re-drawn from ``pretrain_seed`` and its input standardisation is set to
the pool's statistics, so the result is the same for every trial. Pretrained weights are
cached under ``ctx.cache_dir`` (see :mod:`fivefold.techniques.ssl.cache`), so label-fraction
refits and seeds of one run pretrain once.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from fivefold.data.task import ModalityInfo, Task
from fivefold.errors import ConfigError
from fivefold.schema import option
from fivefold.seeding import child_seed
from fivefold.techniques.base import TECHNIQUES
from fivefold.techniques.ssl.cache import (
    cache_paths,
    canonical_pool,
    load_cached,
    pool_inputs,
    save_cached,
    state_digest,
    tensor_digest,
)
from fivefold.techniques.ssl.contrastive import Contrastive
from fivefold.techniques.ssl.masking import MaskedModelling, feature_units
from fivefold.techniques.ssl.pretrain import (
    channel_stats,
    pool_standardize,
    recalibrate_norms,
    reinitialise,
    run_pretraining,
)
from fivefold.techniques.ssl.views import ViewMaker, ViewStrength
from fivefold.training.hooks import FitContext, FitFn, FitResult, Technique

__all__ = ["SSLConfig", "SSLTechnique"]

UNK_ID = 1
"""The unknown-word id of fivefold's word vocabularies, used as the mask token."""
BERT_MASK_ID = 103
"""[MASK] in the MiniLM (BERT uncased) vocabulary."""
CURVE_POINTS = 20
"""At most this many points of the pretraining loss curve go into the result."""


@dataclass(frozen=True)
class SSLConfig:
    """Options of the ``ssl`` technique."""

    method: Literal["masked", "contrastive"] = option(
        "masked",
        help="masked: reconstruct masked patches/steps/features/tokens; contrastive: SimCLR",
    )
    epochs: int = option(50, help="pretraining epochs over the unlabeled pool", min=1)
    batch_size: int = option(128, help="pretraining batch size", min=2)
    lr: float = option(1e-3, help="peak AdamW learning rate of pretraining", min=0.0)
    weight_decay: float = option(1e-4, help="AdamW weight decay of pretraining", min=0.0)
    mask_ratio: float = option(
        0.5,
        help="masked: share of patches/segments/features/tokens masked in each sample",
        min=0.0,
        max=0.95,
        exclusive_min=True,
    )
    patch_size: int = option(
        2, help="masked: image patch side and series segment length (1: single pixels/steps)", min=1
    )
    decoder_hidden: int = option(256, help="masked: hidden width of the MLP decoder", min=1)
    temperature: float = option(
        0.5, help="contrastive: NT-Xent temperature", min=0.0, exclusive_min=True
    )
    projection_dim: int = option(64, help="contrastive: output width of the projection head", min=1)
    crop_scale: float = option(
        0.5,
        help="contrastive: smallest share of the image area / series length a crop keeps",
        min=0.05,
        max=1.0,
    )
    jitter: float = option(
        0.2,
        help="contrastive: brightness/contrast jitter (images), magnitude scaling std (series)",
        min=0.0,
        max=1.0,
    )
    noise: float = option(
        0.05, help="contrastive: Gaussian noise std, in channel standard deviations", min=0.0
    )
    corruption: float = option(
        0.6,
        help="contrastive: share of features replaced from other rows (tabular, SCARF) or of "
        "tokens dropped/masked (text)",
        min=0.0,
        max=1.0,
    )
    finetune: Literal["full", "linear"] = option(
        "full", help="full: fine-tune everything; linear: freeze the encoder, train the head"
    )
    pretrain_seed: int = option(
        0, help="seed of pretraining (initial weights, batches, masks, views), not the trial's"
    )
    reinit: bool = option(
        True,
        help="re-draw the encoder's initial weights from pretrain_seed so seeds share one "
        "pretraining; set false for a pretrained backbone (minilm) to keep its weights",
    )

    def pretraining_options(self) -> dict[str, Any]:
        """The options that shape the pretrained weights (all but ``finetune``)."""
        return {k: v for k, v in asdict(self).items() if k != "finetune"}


class SSLTechnique(Technique):
    """Self-supervised pretraining of the encoder on the unlabeled pool, then fine-tuning.

    ``masked`` hides a share of each input's patches (images), segments (series), features
    (tabular) or tokens (text) and reconstructs them with an MLP decoder from the pooled
    (B, D) features (MSE on masked numeric entries, cross-entropy on masked tokens).
    ``contrastive`` is SimCLR: NT-Xent between projections of two augmented views.

    Reference: Chen et al., "A simple framework for contrastive learning of visual
    representations" (SimCLR), ICML 2020; He et al., "Masked autoencoders are scalable vision
    learners", CVPR 2022; Devlin et al., "BERT", NAACL 2019; Bahri et al., "SCARF", ICLR 2022.
    """

    Config = SSLConfig
    requires = frozenset({"unlabeled"})
    quick: ClassVar[dict[str, Any]] = {
        "epochs": 2,
        "batch_size": 16,
        "decoder_hidden": 16,
        "projection_dim": 8,
    }

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Pretrain ``model.encoder``, then run ``fit`` (full fine-tuning or a linear probe)."""

        def pretrained_fit(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            encoder, feature_dim = _encoder_of(model)
            ctx.extras[self.name] = pretrain_encoder(encoder, feature_dim, task, ctx, self.config)
            if self.config.finetune == "linear":
                freeze(encoder)
            return fit(model, task, ctx)

        return pretrained_fit


def _encoder_of(model: nn.Module) -> tuple[nn.Module, int]:
    encoder = getattr(model, "encoder", None)
    feature_dim = getattr(model, "feature_dim", None)
    if not isinstance(encoder, nn.Module) or not isinstance(feature_dim, int):
        raise ConfigError(
            "ssl: the model has no 'encoder' and 'feature_dim' (a fivefold Classifier); "
            "use a built-in model or remove ssl from the recipe"
        )
    return encoder, feature_dim


def _keep_eval(module: nn.Module, _args: Any) -> None:
    module.train(False)


def freeze(encoder: nn.Module) -> None:
    """Linear probe: no gradients and evaluation mode (fixed norm statistics, no dropout)."""
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.train(False)
    encoder.register_forward_pre_hook(_keep_eval)


def _pool_infos(task: Task, pool: dict[str, torch.Tensor]) -> dict[str, ModalityInfo]:
    if list(pool) == ["x"] and "x" not in task.inputs:
        return {"x": next(iter(task.inputs.values()))}
    return {k: task.inputs[k] for k in pool}


def mask_token_id(task: Task) -> int:
    """[MASK] for the MiniLM tokenizer, the unknown-word id for fivefold's vocabularies."""
    from fivefold.models.minilm import MiniLMTokenizer

    return BERT_MASK_ID if isinstance(task.text_encoder, MiniLMTokenizer) else UNK_ID


def build_objective(
    cfg: SSLConfig,
    task: Task,
    pool: dict[str, torch.Tensor],
    feature_dim: int,
) -> nn.Module:
    """The masked-modelling or contrastive objective, its weights drawn from the pretrain seed."""
    infos = _pool_infos(task, pool)
    stats = {k: channel_stats(pool[k], i) for k, i in infos.items() if i.kind != "text"}
    units = {k: feature_units(i) for k, i in infos.items() if i.kind == "tabular"}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_seed(cfg.pretrain_seed, "ssl", "objective"))
        if cfg.method == "masked":
            return MaskedModelling(
                infos,
                stats,
                feature_dim,
                cfg.decoder_hidden,
                cfg.mask_ratio,
                cfg.patch_size,
                mask_token_id(task),
            )
        strength = ViewStrength(cfg.crop_scale, cfg.jitter, cfg.noise, cfg.corruption)
        scales = {k: std for k, (_, std) in stats.items()}
        views = ViewMaker(infos, pool, scales, strength, mask_token_id(task), units)
        return Contrastive(views, feature_dim, cfg.projection_dim, cfg.temperature)


def pretrain_encoder(
    encoder: nn.Module, feature_dim: int, task: Task, ctx: FitContext, cfg: SSLConfig
) -> dict[str, Any]:
    """Pretrain ``encoder`` in place (or load it from the cache); return the facts to report.

    Raises:
        ConfigError: the encoder has no trainable parameters.
    """
    start = time.perf_counter()
    if not any(p.requires_grad for p in encoder.parameters()):
        raise ConfigError(
            "ssl: the encoder has no trainable parameters; unfreeze the backbone or remove ssl"
        )
    raw = pool_inputs(task)
    pool = canonical_pool(raw)
    if cfg.reinit:
        reinitialise(encoder, cfg.pretrain_seed)
    pool_standardize(encoder, pool, single=not isinstance(task.train.x, dict))
    material = {
        "key": ctx.cache_key,
        "options": cfg.pretraining_options(),
        "pool": tensor_digest(pool),
        "init": state_digest(encoder),
    }
    paths = cache_paths(ctx.cache_dir, material) if ctx.cache_dir is not None else None
    cached = load_cached(*paths) if paths is not None else None
    if cached is not None:
        state, meta = cached
        encoder.load_state_dict(state)
    else:
        meta = _pretrain(encoder, feature_dim, task, pool, cfg)
        if paths is not None:
            save_cached(*paths, encoder.state_dict(), meta)
    curve: list[float] = meta["loss_curve"]
    stride = max(1, -(-len(curve) // CURVE_POINTS))
    return {
        "method": cfg.method,
        "finetune": cfg.finetune,
        "cache_hit": cached is not None,
        "pool_size": len(next(iter(pool.values()))),
        "seconds": time.perf_counter() - start,
        "pretrain_seconds": meta["seconds"],
        "epochs": len(curve),
        "loss_first": curve[0],
        "loss_last": curve[-1],
        "loss_min": min(curve),
        "loss_curve": curve[::stride],
    }


def _pretrain(
    encoder: nn.Module,
    feature_dim: int,
    task: Task,
    pool: dict[str, torch.Tensor],
    cfg: SSLConfig,
) -> dict[str, Any]:
    start = time.perf_counter()
    objective = build_objective(cfg, task, pool, feature_dim)
    curve = run_pretraining(
        encoder,
        objective,
        pool,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        seed=cfg.pretrain_seed,
    )
    recalibrate_norms(encoder, pool, cfg.batch_size, single=not isinstance(task.train.x, dict))
    return {"loss_curve": curve, "seconds": time.perf_counter() - start}


TECHNIQUES.register(
    "ssl", help="self-supervised pretraining (masked modelling or SimCLR), then fine-tuning"
)(SSLTechnique)
