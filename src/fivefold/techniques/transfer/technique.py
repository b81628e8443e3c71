"""The ``transfer`` technique: start from a source's encoder, then fine-tune on the target."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from fivefold.data.config import DataConfig
from fivefold.data.task import Task
from fivefold.errors import ConfigError
from fivefold.techniques.base import TECHNIQUES
from fivefold.techniques.transfer.blocks import Block, encoder_and_head, encoder_blocks, lr_scales
from fivefold.techniques.transfer.config import TransferConfig
from fivefold.techniques.transfer.source import source_encoder
from fivefold.techniques.transfer.weights import encoder_tensors, load_encoder, read_state
from fivefold.training.hooks import Batch, FitContext, FitFn, FitResult, Technique

__all__ = ["Transfer"]


def has_pretrained_weights(model: nn.Module) -> bool:
    """Whether ``model``'s encoder starts from pretrained weights (a bundled backbone)."""
    from fivefold.models.minilm import MiniLMEncoder

    return any(isinstance(m, MiniLMEncoder) for m in model.modules())


def _check_beside_peft(config: TransferConfig, recipe: Sequence[str]) -> None:
    if config.strategy != "full" and "peft" in recipe:
        raise ConfigError(
            f"'transfer' with strategy = {config.strategy!r} freezes the encoder while 'peft' "
            'chooses which parameters train; use strategy = "full" beside peft'
        )


class Transfer(Technique):
    """Transfer learning: an encoder from a source, then a fine-tuning strategy on the target.

    Sources: the model's own pretrained weights (``source = "pretrained"``, e.g. ``minilm``),
    another data set the same model is first trained on (``source = {dataset = ...}``,
    cached and shared by the trials that start from the same weights), or another run's
    checkpoint (``checkpoint = "model.safetensors"``). Strategies: full fine-tuning, a linear
    probe (frozen encoder, trained head), gradual unfreezing from the top; any of them with
    layer-wise learning-rate decay (``lr_decay``) and a head learning-rate multiplier.

    The usual fine-tuning advice, which the ``[train]`` table controls: AdamW (the default
    optimizer), a learning rate below the pretraining one (2e-5 to 1e-4 for MiniLM/BERT), linear
    warmup (``train.warmup_epochs``, 1 epoch by default; 6-10 % of the steps is common) and
    decay; a linear probe wants a head rate around 1e-3 to 1e-2 (``head_lr_scale``).

    Reports under ``techniques.transfer``: the source, tensors loaded, encoder blocks, and the
    trainable parameters of every phase.

    Reference: Yosinski et al., "How transferable are features in deep neural networks?",
    NeurIPS 2014; Howard & Ruder, "Universal language model fine-tuning for text
    classification", ACL 2018; Kumar et al., "Fine-tuning can distort pretrained features and
    underperform out-of-distribution", ICLR 2022.
    """

    Config = TransferConfig

    def __init__(self, name: str, config: TransferConfig) -> None:
        super().__init__(name, config)
        self.config: TransferConfig = config
        self._encoder: nn.Module = nn.Identity()
        self._blocks: list[Block] = []
        self._unfrozen = -1

    def _report(self, ctx: FitContext) -> dict[str, Any]:
        report: dict[str, Any] = ctx.extras.setdefault(self.name, {})
        return report

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Load the source's encoder into the model, then run the inner fit."""

        def fit_from_source(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            report = self._report(ctx)
            report.update(self._load_source(model, task, ctx))
            return fit(model, task, ctx)

        return fit_from_source

    def _load_source(self, model: nn.Module, task: Task, ctx: FitContext) -> dict[str, Any]:
        encoder, _ = encoder_and_head(model)
        total = {"tensors_total": len(encoder.state_dict())}
        if self.config.checkpoint is not None:
            return {**self._from_checkpoint(encoder, self.config.checkpoint), **total}
        if isinstance(self.config.source, DataConfig):
            return {**self._from_source_data(model, task, ctx, self.config.source), **total}
        pretrained = has_pretrained_weights(model)
        return {
            "source": "pretrained",
            "pretrained_weights": pretrained,
            "tensors_loaded": 0,
            **total,
        }

    def _from_checkpoint(self, encoder: nn.Module, checkpoint: str) -> dict[str, Any]:
        path = Path(checkpoint).expanduser()
        tensors = encoder_tensors(read_state(path))
        loaded = load_encoder(encoder, tensors, strict=self.config.strict, origin=str(path))
        return {"source": f"checkpoint:{path}", "tensors_loaded": loaded}

    def _from_source_data(
        self, model: nn.Module, task: Task, ctx: FitContext, data: DataConfig
    ) -> dict[str, Any]:
        cfg = self.config
        train = dataclasses.replace(
            ctx.train, epochs=cfg.source_epochs, lr=cfg.source_lr or ctx.train.lr, checkpoint=False
        )
        run = source_encoder(
            model,
            task,
            data,
            train,
            seed=cfg.source_seed,
            cache_dir=ctx.cache_dir,
            cache_key=ctx.cache_key,
        )
        origin = f"the source run on {data.dataset!r}"
        loaded = load_encoder(encoder_and_head(model)[0], run.tensors, strict=True, origin=origin)
        return {"source": f"dataset:{data.dataset}", "tensors_loaded": loaded, **run.facts}

    @classmethod
    def check_model(cls, config: TransferConfig, model: nn.Module, recipe: Sequence[str]) -> None:
        """Plan time: a freezing strategy beside peft, a model without encoder and head, or a
        checkpoint that is missing or does not fit the encoder."""
        _check_beside_peft(config, recipe)
        encoder, _ = encoder_and_head(model)
        if config.checkpoint is not None:
            # the plan-time model is thrown away: loading into it tests the trial's own path
            cls("transfer", config)._from_checkpoint(encoder, config.checkpoint)

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        """Freeze what the strategy freezes at the start; set the per-parameter lr scales."""
        cfg = self.config
        # checked at plan time too; repeated for fits that do not go through the runner
        _check_beside_peft(cfg, [t.name for t in ctx.techniques])
        self._encoder, head = encoder_and_head(model)
        self._blocks = encoder_blocks(self._encoder)
        self._unfrozen = -1
        if cfg.strategy != "full":
            for param in self._encoder.parameters():
                param.requires_grad_(False)
        for name, scale in lr_scales(head, self._blocks, cfg.lr_decay, cfg.head_lr_scale).items():
            if scale != 1.0:
                ctx.lr_scale[name] = ctx.lr_scale.get(name, 1.0) * scale
        self._report(ctx).update(
            {
                "strategy": cfg.strategy,
                "blocks": [b.name for b in self._blocks],
                "lr_decay": cfg.lr_decay,
                "head_lr_scale": cfg.head_lr_scale,
                "phases": [],
            }
        )
        if cfg.strategy != "gradual_unfreeze":
            self._log_phase(model, ctx, self.unfrozen_blocks(0))
        return model

    def _log_phase(self, model: nn.Module, ctx: FitContext, n_open: int) -> None:
        phase = {"epoch": ctx.epoch + 1, "unfrozen_blocks": n_open, "trainable_params": 0}
        phase["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self._report(ctx)["phases"].append(phase)

    def unfrozen_blocks(self, epoch: int) -> int:
        """How many encoder blocks (from the top) train in 0-based ``epoch``."""
        cfg = self.config
        if cfg.strategy == "full":
            return len(self._blocks)
        if cfg.strategy == "linear_probe":
            return 0
        return min(len(self._blocks), epoch // cfg.unfreeze_every)

    def adapt_batch(self, batch: Batch, model: nn.Module, ctx: FitContext) -> Batch:
        """At an epoch boundary, unfreeze blocks; keep frozen blocks in evaluation mode."""
        if not self._blocks:
            return batch
        n_open = self.unfrozen_blocks(ctx.epoch)
        if self.config.strategy == "gradual_unfreeze" and n_open != self._unfrozen:
            self._unfrozen = n_open
            for block in self._blocks[len(self._blocks) - n_open :]:
                for param in block.tensors:
                    param.requires_grad_(True)
            self._log_phase(model, ctx, n_open)
        if self.config.frozen_eval:
            self._frozen_to_eval(n_open)
        return batch

    def _frozen_to_eval(self, n_open: int) -> None:
        if n_open == 0:
            self._encoder.eval()  # the whole encoder, its parameter-free dropout included
            return
        for block in self._blocks[: len(self._blocks) - n_open]:
            for module in block.modules:
                module.eval()


TECHNIQUES.register(
    "transfer",
    help="start from a source encoder (pretrained, another data set or a checkpoint), then "
    "linear probe, full or gradual fine-tuning with layer-wise lr decay",
)(Transfer)
