"""Parameter-efficient fine-tuning: LoRA (through HF ``peft``), BitFit and bottleneck adapters.

Each method freezes the model and trains a small set of parameters plus the task head (which
is new and always trains in full):

- ``lora``: low-rank factors added to chosen Linear, Conv, Embedding or MultiheadAttention
  layers; with ``merge = true`` they are folded into the weights after training, so the
  returned model and its ``model.safetensors`` have the plain architecture;
- ``bitfit``: the bias terms only (every parameter whose name starts with ``bias``, normalisation
  biases included);
- ``adapter``: a zero-initialised bottleneck block after chosen layers.

The technique reports total, added and trainable parameter counts under its name in
``result.json`` ("techniques"). Parameter-efficient methods usually want a higher learning rate
than full fine-tuning (LoRA on MiniLM: 10–20× a full fine-tuning rate); ``lr_scale``
multiplies ``train.lr`` for every parameter the technique trains, ``head_lr_scale`` for the head
alone.

Without ``merge`` the checkpoint written by fit is the adapted model's state dict (LoRA layers
keep their base weights under ``<layer>.base_layer``, adapters add ``<layer>.peft_adapter``);
load it into a model adapted the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from fivefold.schema import option
from fivefold.seeding import torch_generator
from fivefold.techniques.base import TECHNIQUES
from fivefold.techniques.peft_methods.adapters import add_adapters
from fivefold.techniques.peft_methods.lora import inject_lora, merge_lora
from fivefold.techniques.peft_methods.targets import head_of, select_targets
from fivefold.training.checkpoint import save_weights
from fivefold.training.hooks import FitContext, FitFn, FitResult, Technique

__all__ = ["PeftConfig", "PeftTechnique", "parameter_counts"]


@dataclass(frozen=True)
class PeftConfig:
    """Options of the ``peft`` technique."""

    method: Literal["lora", "bitfit", "adapter"] = option(
        "lora",
        help="lora (low-rank updates via HF peft), bitfit (biases only) or adapter (bottleneck "
        "adapters); the head always trains",
    )
    target: Literal["auto", "linear", "conv", "embedding", "all"] = option(
        "auto",
        help="layer types to adapt (lora, adapter); auto: the query/value projections of a "
        "pretrained attention for lora (the residual output projections for adapters), else "
        "every Linear, Conv and Embedding layer outside the head; linear includes "
        "nn.MultiheadAttention for lora",
    )
    modules: tuple[str, ...] = option(
        (),
        help="regular expressions searched in layer names (e.g. 'query|value'); only matching "
        "layers of the target types are adapted",
    )
    r: int = option(8, help="LoRA rank", min=1)
    alpha: int = option(16, help="LoRA scale numerator: updates are scaled by alpha / r", min=1)
    dropout: float = option(0.0, help="dropout on the input of the LoRA branch", min=0.0, max=0.9)
    bottleneck: int = option(16, help="width of the adapter bottleneck", min=1)
    lr_scale: float = option(
        1.0,
        help="multiplier of train.lr for every parameter the technique trains (LoRA usually "
        "wants 10-20x a full fine-tuning rate)",
        min=0.0,
        exclusive_min=True,
    )
    head_lr_scale: float | None = option(
        None,
        help="multiplier of train.lr for the head alone (none: lr_scale); a new head on a "
        "frozen pretrained encoder learns fastest at a linear probe's rate",
        min=0.0,
        exclusive_min=True,
    )
    merge: bool = option(
        False,
        help="lora: fold the factors into the weights after training, so the model and "
        "model.safetensors are the plain architecture",
    )

    def __post_init__(self) -> None:
        if self.merge and self.method != "lora":
            raise ValueError(f"merge = true needs method = 'lora' (got {self.method!r})")
        if self.method == "bitfit" and (self.modules or self.target != "auto"):
            raise ValueError(
                "bitfit trains every bias; target and modules choose layers for lora and adapter"
            )


def _is_bias(name: str) -> bool:
    return name.rpartition(".")[2].startswith("bias")


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts of ``model``."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


class PeftTechnique(Technique):
    """Parameter-efficient fine-tuning: LoRA, BitFit or bottleneck adapters, plus the head.

    Reference: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022;
    Ben Zaken et al., "BitFit: Simple Parameter-efficient Fine-tuning for Transformer-based
    Masked Language-models", ACL 2022; Houlsby et al., "Parameter-Efficient Transfer Learning
    for NLP", ICML 2019.
    """

    Config = PeftConfig

    @classmethod
    def check_model(cls, config: PeftConfig, model: nn.Module, recipe: Sequence[str]) -> None:
        """Fail before training when LoRA or adapters find no layer of ``model`` to adapt."""
        if config.method != "bitfit":
            select_targets(model, config.method, config.target, config.modules)

    def adapt_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        """Add the method's parameters, freeze everything else but the head, report counts."""
        cfg: PeftConfig = self.config
        head = head_of(model)
        head_ids = {id(p) for p in head.parameters()} if head is not None else set()
        # keep the old parameters alive: a freed one's id could be reused by a new one
        old = {id(p): (n, p) for n, p in model.named_parameters()}
        total_before, _ = parameter_counts(model)
        targets: list[str] = []
        if cfg.method != "bitfit":
            targets = select_targets(model, cfg.method, cfg.target, cfg.modules)
        if cfg.method == "lora":
            model = inject_lora(
                model, targets, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout, seed=ctx.seed
            )
        elif cfg.method == "adapter":
            generator = torch_generator(ctx.seed, "peft", "adapter")
            model = add_adapters(model, targets, cfg.bottleneck, generator)
        for name, param in model.named_parameters():
            new = id(param) not in old and (cfg.method != "lora" or "lora_" in name)
            bias = cfg.method == "bitfit" and _is_bias(name)
            param.requires_grad_(new or bias or id(param) in head_ids)
        self._rescale(model, {k: n for k, (n, _) in old.items()}, head_ids, ctx)
        ctx.extras[self.name] = self._report(model, targets, total_before, head_ids)
        return model

    def _rescale(
        self, model: nn.Module, old_names: dict[int, str], head_ids: set[int], ctx: FitContext
    ) -> None:
        """Carry lr multipliers over to renamed parameters; scale the trained ones."""
        cfg: PeftConfig = self.config
        head_scale = cfg.lr_scale if cfg.head_lr_scale is None else cfg.head_lr_scale
        for name, param in model.named_parameters():
            old = old_names.get(id(param))
            if old is not None and old != name and old in ctx.lr_scale:
                ctx.lr_scale[name] = ctx.lr_scale.pop(old)
            scale = head_scale if id(param) in head_ids else cfg.lr_scale
            if param.requires_grad and scale != 1.0:
                ctx.lr_scale[name] = ctx.lr_scale.get(name, 1.0) * scale

    def _report(
        self, model: nn.Module, targets: list[str], total_before: int, head_ids: set[int]
    ) -> dict[str, Any]:
        total, trainable = parameter_counts(model)
        head = sum(p.numel() for p in model.parameters() if id(p) in head_ids)
        backbone = total_before - head
        return {
            "method": self.config.method,
            "layers": targets,
            "params_total": total,
            "params_trainable": trainable,
            "params_added": total - total_before,
            "params_backbone": backbone,
            "params_trainable_backbone": trainable - head,
            "trainable_backbone_fraction": (trainable - head) / max(backbone, 1),
            "merged": False,
        }

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """With ``merge = true``: fold the LoRA factors in after training and re-save."""
        if not self.config.merge:
            return fit

        def fit_then_merge(model: nn.Module, task: Any, ctx: FitContext) -> FitResult:
            result = fit(model, task, ctx)
            result.model = merge_lora(result.model)
            if ctx.train.checkpoint and ctx.workdir is not None:
                save_weights(result.model, ctx.workdir / "model.safetensors")
            report = result.extras.get(self.name)
            if isinstance(report, dict):
                result.extras[self.name] = {**report, "merged": True}
            return result

        return fit_then_merge


TECHNIQUES.register(
    "peft", help="parameter-efficient fine-tuning: LoRA (HF peft), BitFit or bottleneck adapters"
)(PeftTechnique)
