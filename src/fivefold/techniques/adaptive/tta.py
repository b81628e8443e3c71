"""Test-time adaptation: batch-norm statistics adaptation and TENT, through an adapting Subject.

``tta`` trains nothing; its ``adapt_subject`` hands the pillars a :class:`AdaptingSubject`.
Every input the pillars predict (the test split, each shift split, each corruption at each
severity, each OOD set) is one evaluation stream: the subject starts from the trained weights,
walks the stream in batches of ``batch_size`` in the order given, and predicts each batch with
the model adapted on the batches before it, the standard online protocol of Wang et al. (every
corruption type adapted on its own, starting from the source model):

- ``bn`` (Schneider et al. 2020; Nado et al. 2020): batch-norm layers normalise with the
  statistics of the test batch instead of the running statistics of training; nothing is
  learnt.
- ``tent`` (Wang et al. 2021): batch statistics as in ``bn``, plus ``steps`` gradient steps per
  batch minimising the mean entropy of the predictions, on the normalisation layers' affine
  parameters only (batch-, layer- and group-norm scale and shift); every other parameter stays
  bit-identical. Each batch is predicted by the forward pass that its last update is computed
  from (as in the reference implementation). ``episodic`` resets the model and the optimizer
  after every batch.

Attacks and attributions take their gradients through the unadapted model (an attack on a
model that keeps changing has no fixed target), and the text edit attack scores it too; the
pillars say so. The unadapted model's accuracies sit beside the adapted ones
(``*_unadapted``), so one trial shows what adaptation bought.

References: Wang, Shelhamer, Liu, Olshausen & Darrell, "Tent: fully test-time adaptation by
entropy minimization", ICLR 2021; Schneider et al., "Improving robustness against common
corruptions by covariate shift adaptation", NeurIPS 2020; Nado et al., "Evaluating
prediction-time batch normalization for robustness under covariate shift", 2020.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from fivefold.data.task import Inputs, Task, index_inputs, input_length
from fivefold.errors import ConfigError
from fivefold.schema import option, to_dict
from fivefold.training.hooks import FitContext, Technique
from fivefold.training.subject import Subject

__all__ = [
    "AdaptingSubject",
    "TTAConfig",
    "TestTimeAdaptation",
    "adapt_stream",
    "affine_parameters",
    "entropy",
    "norm_layers",
]

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_NORMS = (*_BATCH_NORMS, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)


@dataclass(frozen=True)
class TTAConfig:
    """How the model adapts to each evaluation stream."""

    method: Literal["bn", "tent"] = option(
        "tent",
        help="bn: batch-norm layers use the test batch's statistics; tent: that plus entropy "
        "minimisation on the normalisation layers' affine parameters",
    )
    batch_size: int = option(128, help="test rows per adaptation batch", min=2, max=65536)
    lr: float = option(
        1e-3, help="tent: learning rate of the affine parameters", min=0.0, exclusive_min=True
    )
    optimizer: Literal["adam", "sgd"] = option(
        "adam", help="tent: Adam (the paper's choice for CIFAR) or SGD with momentum"
    )
    momentum: float = option(0.9, help="tent with sgd: momentum", min=0.0, max=0.999)
    steps: int = option(1, help="tent: gradient steps per test batch", min=1, max=100)
    episodic: bool = option(
        False, help="tent: reset the model and optimizer after every batch (no memory)"
    )


def norm_layers(model: nn.Module) -> list[nn.Module]:
    """The normalisation layers of ``model`` (batch, layer, group and instance norms)."""
    return [m for m in model.modules() if isinstance(m, _NORMS)]


def affine_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The scale and shift parameters of every normalisation layer of ``model``."""
    params: list[nn.Parameter] = []
    for layer in norm_layers(model):
        params += [p for p in (layer.weight, layer.bias) if isinstance(p, nn.Parameter)]
    return params


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """(N,) Shannon entropy (nats) of the softmax of (N, C) logits."""
    log_p = torch.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


def _batches(n: int, size: int) -> list[slice]:
    """Consecutive slices of ``size`` rows; a trailing batch of one row joins the one before
    (batch statistics of a single row are undefined)."""
    cuts = [*range(0, n, size), n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] == 1:
        del cuts[-2]
    return [slice(a, b) for a, b in itertools.pairwise(cuts)]


def _prepare(model: nn.Module, method: str) -> list[nn.Parameter]:
    """Eval mode except batch norms (batch statistics); for tent, only the affine parameters
    require gradients. Returns the parameters tent updates."""
    model.eval()
    for layer in model.modules():
        if isinstance(layer, _BATCH_NORMS):
            layer.train()
    for p in model.parameters():
        p.requires_grad_(False)
    if method != "tent":
        return []
    params = affine_parameters(model)
    for p in params:
        p.requires_grad_(True)
    return params


def _optimizer(params: list[nn.Parameter], cfg: TTAConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999))


def adapt_stream(model: nn.Module, x: Inputs, cfg: TTAConfig) -> torch.Tensor:
    """Walk ``x`` in batches, adapting ``model`` in place; the (N, C) logits it predicted.

    Args:
        model: the model to adapt (changed in place: pass a copy of the trained model).
        x: the evaluation stream, in the order it is seen.
        cfg: the method and its settings.

    Returns:
        the logits of every row, each batch predicted before the model moves past it.
    """
    params = _prepare(model, cfg.method)
    start = copy.deepcopy(model.state_dict()) if cfg.episodic else None
    optimizer = _optimizer(params, cfg) if params else None
    outs: list[torch.Tensor] = []
    for rows in _batches(input_length(x), cfg.batch_size):
        batch = index_inputs(x, rows)
        if optimizer is None:
            with torch.no_grad():
                outs.append(model(batch))
            continue
        with torch.enable_grad():  # callers may predict under no_grad
            for _ in range(cfg.steps):
                logits = model(batch)
                loss = entropy(logits).mean()
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                optimizer.step()
        outs.append(logits.detach())
        if start is not None:
            model.load_state_dict(start)
            optimizer = _optimizer(params, cfg)
    return torch.cat(outs)


class AdaptingSubject(Subject):
    """A subject whose members adapt to every evaluation stream (see the module docstring).

    Each input is adapted on from the trained weights, so its outputs depend on that input
    alone and the memo stays valid; :meth:`reset` restores the working copies anyway.

    Args:
        base: the subject ``tta`` is handed (one model or an ensemble's members).
        config: the method and its settings.
    """

    def __init__(self, base: Subject, config: TTAConfig) -> None:
        members = list(base.members)
        super().__init__(
            members if len(members) > 1 else members[0],
            base.refit,
            base.eval_batch_size,
            combiner=base.combiner,
        )
        self.config = config
        # the trained weights, never adapted: the before-adaptation numbers and gradient paths
        self._source = Subject(
            [copy.deepcopy(m).eval() for m in members]
            if len(members) > 1
            else copy.deepcopy(members[0]).eval(),
            base.refit,
            base.eval_batch_size,
            combiner=base.combiner,
        )
        self._working = [copy.deepcopy(m) for m in members]

    def reset(self) -> None:
        """Working copies back to the trained weights (each stream starts there anyway)."""
        for work, source in zip(self._working, self._source.members, strict=True):
            work.load_state_dict(source.state_dict())

    def unadapted(self) -> Subject:
        """The trained model without adaptation."""
        return self._source

    @property
    def adaptation(self) -> str:
        cfg = self.config
        if cfg.method == "bn":
            return f"bn adaptation (test-batch statistics, batches of {cfg.batch_size})"
        mode = ", episodic" if cfg.episodic else ""
        return (
            f"tent ({cfg.steps} {cfg.optimizer} step(s) per batch of {cfg.batch_size} at "
            f"lr {cfg.lr:g}{mode})"
        )

    def differentiable(self) -> nn.Module:
        """The unadapted model: attacks and attributions need a fixed target."""
        return self._source.differentiable()

    def _member_logits(self, k: int, x: Inputs) -> torch.Tensor:
        """Member ``k`` adapted on ``x`` from the trained weights, as it predicted ``x``."""
        work = self._working[k]
        work.load_state_dict(self._source.members[k].state_dict())
        return adapt_stream(work, x, self.config)


class TestTimeAdaptation(Technique):
    """``tta``: batch-norm adaptation or TENT at evaluation time (see the module docstring).

    Reports under ``techniques.tta``: the method and its settings, the number of parameters it
    adapts and the normalisation layers it found.

    Reference: Wang et al., "Tent: fully test-time adaptation by entropy minimization", ICLR
    2021; Schneider et al., "Improving robustness against common corruptions by covariate shift
    adaptation", NeurIPS 2020.
    """

    __test__ = False  # not a pytest test class despite the name
    Config = TTAConfig
    quick: ClassVar[dict[str, Any]] = {"batch_size": 64}

    def __init__(self, name: str, config: TTAConfig) -> None:
        super().__init__(name, config)
        self.config: TTAConfig = config

    @classmethod
    def check_model(cls, config: TTAConfig, model: nn.Module, recipe: Sequence[str]) -> None:
        """Plan time: ``bn`` needs batch norms, ``tent`` normalisation layers with affine
        parameters; the message says which ``model.norm`` to choose."""
        kinds = sorted({type(m).__name__ for m in norm_layers(model)})
        has_bn = any(isinstance(m, _BATCH_NORMS) for m in model.modules())
        fix = 'set model.norm = "batch" (mlp, cnn) so the model has batch-norm layers'
        if config.method == "bn" and not has_bn:
            found = f"only {', '.join(kinds)}" if kinds else "no normalisation layers"
            extra = ', or use method = "tent"' if kinds else ""
            raise ConfigError(
                f"tta method 'bn' adapts batch-norm statistics and this model has {found}: "
                f"{fix}{extra}"
            )
        if config.method == "tent" and not affine_parameters(model):
            raise ConfigError(
                "tta method 'tent' adapts the affine parameters of normalisation layers and "
                f"this model has none: {fix}"
            )

    def adapt_subject(self, subject: Subject, task: Task, ctx: FitContext) -> Subject:
        """The adapting subject; records what it adapts under ``ctx.extras``."""
        model = subject.members[0]
        ctx.extras[self.name] = {
            **to_dict(self.config),
            "adapted_params": sum(p.numel() for p in affine_parameters(model))
            if self.config.method == "tent"
            else 0,
            "norm_layers": sorted({type(m).__name__ for m in norm_layers(model)}),
        }
        return AdaptingSubject(subject, self.config)
