"""Adversarial training on continuous inputs: FGSM with a random start, PGD and TRADES.

Images, sequences and tabular data are attacked in the unit coordinates of the robustness
pillar: eps is a fraction of the input range for bounded inputs (``ModalityInfo.bounds``) and
absolute for unbounded, standardised ones, and adversarial inputs stay inside the bounds. For
tabular data only the numeric features move: one-hot columns of categorical features are
masked, so every adversarial row is still a valid one-hot encoding. Text inputs (token ids)
have no continuous neighbourhood; use ``freelb`` for them.

The attack used during training is configured here, independently of the robustness pillar's
evaluation attacks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.attacks.space import Box, attack_boxes
from fivefold.data.task import Inputs, Modality, Task
from fivefold.schema import option
from fivefold.seeding import torch_generator
from fivefold.techniques.adversarial.crafting import (
    EpochClock,
    crafting,
    kl_to_clean,
    perturb,
    soft_cross_entropy,
    warmup_eps,
)
from fivefold.techniques.base import TECHNIQUES
from fivefold.training.hooks import Batch, FitContext, FitFn, FitResult, StepOutput, Technique

__all__ = [
    "AdversarialConfig",
    "AdversarialTraining",
    "Trades",
    "TradesConfig",
    "trades_objective",
]

CONTINUOUS: frozenset[Modality] = frozenset({"image", "sequence", "tabular"})
CRAFT_MODE_HELP = (
    "module mode while crafting: eval (running batch-norm statistics, no dropout) "
    "or train (batch statistics; running statistics restored afterwards)"
)


@dataclass(frozen=True)
class AdversarialConfig:
    """Options of ``adversarial`` (FGSM with a random start, or PGD)."""

    method: Literal["pgd", "fgsm"] = option(
        "pgd", help="pgd: k projected steps (Madry); fgsm: one step from a random start (Wong)"
    )
    norm: Literal["linf", "l2"] = option("linf", help="norm of the perturbation ball")
    eps: float = option(
        0.1,
        help="radius (fraction of the input range if bounded, else absolute)",
        min=0.0,
        exclusive_min=True,
    )
    steps: int = option(7, help="pgd: gradient steps per batch (fgsm always takes one)", min=1)
    step_size: float = option(
        0.0,
        help="step length as a multiple of eps; 0: 1.25 for fgsm (Wong et al.), "
        "2.5 / steps for pgd (Madry et al.)",
        min=0.0,
    )
    random_start: bool = option(True, help="start from a uniform random point of the ball")
    adversarial_fraction: float = option(
        1.0,
        help="share of each batch replaced by its adversarial version (the rest stay clean)",
        min=0.0,
        max=1.0,
    )
    warmup_epochs: float = option(
        0.0, help="eps ramps linearly from 0 to eps over this many epochs", min=0.0
    )
    craft_mode: Literal["eval", "train"] = option("eval", help=CRAFT_MODE_HELP)


@dataclass(frozen=True)
class TradesConfig:
    """Options of ``trades``."""

    beta: float = option(6.0, help="weight of the KL robustness term", min=0.0)
    norm: Literal["linf", "l2"] = option("linf", help="norm of the perturbation ball")
    eps: float = option(
        0.1,
        help="radius (fraction of the input range if bounded, else absolute)",
        min=0.0,
        exclusive_min=True,
    )
    steps: int = option(7, help="gradient steps of the KL inner maximisation", min=1)
    step_size: float = option(0.0, help="step length as a multiple of eps; 0: 2.5 / steps", min=0.0)
    start_scale: float = option(
        1e-3, help="std of the Gaussian start around the clean input (unit coordinates)", min=0.0
    )
    warmup_epochs: float = option(
        0.0, help="eps ramps linearly from 0 to eps over this many epochs", min=0.0
    )
    craft_mode: Literal["eval", "train"] = option("eval", help=CRAFT_MODE_HELP)


def trades_objective(
    logits: torch.Tensor,
    logits_adv: torch.Tensor,
    y: torch.Tensor,
    beta: float,
    target: torch.Tensor | None = None,
) -> torch.Tensor:
    """CE(f(x), y) + β · KL(softmax f(x) ‖ softmax f(x')), both averaged over the batch.

    Args:
        logits: (N, C) clean logits.
        logits_adv: (N, C) logits at the adversarial inputs.
        y: (N,) labels.
        beta: weight of the robustness term.
        target: (N, C) soft targets replacing ``y`` in the natural term, or None.

    Returns:
        the scalar TRADES loss; gradients flow through both logits.

    Reference: Zhang et al. 2019, Eq. (5).
    """
    natural = soft_cross_entropy(logits, y if target is None else target).mean()
    robust = F.kl_div(
        F.log_softmax(logits_adv, dim=1), F.softmax(logits, dim=1), reduction="batchmean"
    )
    return natural + beta * robust


class _Crafter(Technique):
    """Shared plumbing: boxes from the task, the random stream and the eps warm-up clock."""

    modalities: ClassVar[frozenset[Modality]] = CONTINUOUS

    def __init__(self, name: str, config: AdversarialConfig | TradesConfig) -> None:
        super().__init__(name, config)
        self.boxes: dict[str, Box] | None = None
        self.gen: torch.Generator | None = None
        self.clock = EpochClock()

    def wrap_fit(self, fit: FitFn) -> FitFn:
        def fit_adversarial(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            self.boxes = attack_boxes(task.inputs)
            self.gen = torch_generator(ctx.seed, self.name)
            self.clock.start(len(task.train), ctx.train.batch_size)
            ctx.extras[self.name] = self.facts()
            return fit(model, task, ctx)

        return fit_adversarial

    def facts(self) -> dict[str, float | str]:
        """What result.json records about the training attack (alpha: absolute step length)."""
        cfg = self.config
        return {"norm": cfg.norm, "eps": cfg.eps, "steps": self.steps, "alpha": self.alpha(cfg.eps)}

    @property
    def steps(self) -> int:
        return int(self.config.steps)

    def alpha(self, eps: float) -> float:
        """Step length in unit coordinates at radius ``eps``."""
        return eps * (self.config.step_size or 2.5 / self.steps)

    def current_eps(self, ctx: FitContext) -> float:
        progress = self.clock.progress(ctx.epoch, ctx.step)
        return warmup_eps(self.config.eps, self.config.warmup_epochs, progress)

    def ready(self, ctx: FitContext) -> tuple[dict[str, Box], torch.Generator]:
        if self.boxes is None:
            raise RuntimeError(f"{self.name}: wrap_fit was not applied; use compose_fit")
        if self.gen is None:
            self.gen = torch_generator(ctx.seed, self.name)
        return self.boxes, self.gen


@TECHNIQUES.register(
    "adversarial", help="adversarial training on continuous inputs: PGD or FGSM + random start"
)
class AdversarialTraining(_Crafter):
    """Replace (a share of) each training batch with adversarial examples of the current model.

    ``method = "pgd"`` takes ``steps`` projected gradient steps of ``step_size · eps`` from a
    uniform random start (Madry et al.); ``method = "fgsm"`` takes one step of ``1.25 · eps``
    from a uniform random start, then projects (Wong et al.'s "fast" adversarial training).
    The examples are crafted on the cross-entropy (against soft targets if an earlier technique
    mixed the labels) in ``craft_mode``; the loss itself is the recipe's (cross-entropy by
    default), so it composes with any loss owner. Step-level techniques run in recipe order:
    list augmentation before ``adversarial`` so the attack sees the augmented batch. For
    tabular data only numeric features are perturbed; one-hot columns stay as they are.

    Reference: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
    ICLR 2018; Wong, Rice & Kolter, "Fast is better than free: Revisiting adversarial
    training", ICLR 2020.
    """

    Config = AdversarialConfig
    conflicts: ClassVar[frozenset[str]] = frozenset({"trades"})
    quick: ClassVar[dict[str, object]] = {"steps": 2}

    @property
    def steps(self) -> int:
        return 1 if self.config.method == "fgsm" else int(self.config.steps)

    def alpha(self, eps: float) -> float:
        default = 1.25 if self.config.method == "fgsm" else 2.5 / self.steps
        return eps * (self.config.step_size or default)

    def facts(self) -> dict[str, float | str]:
        return {"method": self.config.method, **super().facts()}

    def adapt_batch(self, batch: Batch, model: nn.Module, ctx: FitContext) -> Batch:
        cfg: AdversarialConfig = self.config
        boxes, gen = self.ready(ctx)
        eps = self.current_eps(ctx)
        n = len(batch.y)
        k = round(cfg.adversarial_fraction * n)
        if k == 0:
            return batch
        idx = torch.arange(n) if k == n else torch.randperm(n, generator=gen)[:k]
        target = batch.y if batch.target is None else batch.target
        with crafting(model, cfg.craft_mode):
            adv = perturb(
                model,
                _rows(batch.x, idx),
                target[idx],
                boxes,
                soft_cross_entropy,
                eps=eps,
                norm=cfg.norm,
                steps=self.steps,
                alpha=self.alpha(eps),
                start="uniform" if cfg.random_start else "none",
                gen=gen,
            )
        return dataclasses.replace(batch, x=adv if k == n else _merge(batch.x, idx, adv))


@TECHNIQUES.register("trades", help="TRADES: clean cross-entropy + β · KL to adversarial inputs")
class Trades(_Crafter):
    """Minimise CE(f(x), y) + β · KL(f(x) ‖ f(x')), with x' maximising that KL in the eps-ball.

    The inner maximisation starts from Gaussian noise of std ``start_scale`` around x (the KL
    has zero gradient at x itself) and takes ``steps`` projected steps in ``craft_mode``
    (eval by default, like the authors' code); the outer loss runs both forward passes in
    train mode and backpropagates through both.

    Reference: Zhang et al., "Theoretically Principled Trade-off between Robustness and
    Accuracy", ICML 2019.
    """

    Config = TradesConfig
    conflicts: ClassVar[frozenset[str]] = frozenset({"adversarial"})
    owns_loss: ClassVar[bool] = True
    quick: ClassVar[dict[str, object]] = {"steps": 2}

    def facts(self) -> dict[str, float | str]:
        return {"beta": self.config.beta, **super().facts()}

    def adversary(self, model: nn.Module, x: Inputs, ctx: FitContext) -> Inputs:
        """The KL-maximising inputs for ``x`` under the current model (detached)."""
        cfg: TradesConfig = self.config
        boxes, gen = self.ready(ctx)
        eps = self.current_eps(ctx)
        with crafting(model, cfg.craft_mode):
            with torch.no_grad():
                p_clean = F.softmax(model(x), dim=1)
            return perturb(
                model,
                x,
                p_clean,
                boxes,
                kl_to_clean,
                eps=eps,
                norm=cfg.norm,
                steps=cfg.steps,
                alpha=self.alpha(eps),
                start="normal",
                gen=gen,
                start_scale=cfg.start_scale,
            )

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext) -> StepOutput:
        x_adv = self.adversary(model, batch.x, ctx)
        logits = model(batch.x)
        logits_adv = model(x_adv)
        loss = trades_objective(logits, logits_adv, batch.y, self.config.beta, batch.target)
        return StepOutput(loss, logits.detach())


def _rows(x: Inputs, idx: torch.Tensor) -> Inputs:
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def _merge(x: Inputs, idx: torch.Tensor, adv: Inputs) -> Inputs:
    """A copy of ``x`` whose rows ``idx`` are ``adv`` (the task's tensors stay untouched)."""
    if isinstance(x, dict):
        assert isinstance(adv, dict)
        return {k: v.index_copy(0, idx, adv[k]) for k, v in x.items()}
    assert isinstance(adv, torch.Tensor)
    return x.index_copy(0, idx, adv)
