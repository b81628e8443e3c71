"""MAML, first-order MAML and Reptile with ``torch.func``, vectorised over tasks with ``vmap``.

Every pass is functional: ``functional_call(model, (params, buffers), (x,))`` with the
parameters as a ``{name: tensor}`` dict, so one set of initial weights θ can be adapted to many
tasks at once (``vmap`` over the E episodes of a meta-batch) and the outer gradient can
differentiate through the inner SGD steps (``torch.func.grad`` nested in
``torch.func.grad_and_value``).

Conventions of :class:`MetaLearner`:

- **Its own copy.** The learner deep-copies the model it is given (the caller's module is never
  changed); the meta-learned weights live in ``learner.model``.
- **BatchNorm is transductive.** ``vmap`` cannot update running statistics in place, so every
  batch-norm layer of the copy becomes a :class:`BatchStatNorm`: it keeps no running
  statistics and normalises with the statistics of the batch it sees (the support set in the
  inner loop, the query set in the outer pass), in training and evaluation alike, as the MAML
  reference implementation does (and as ``torch.func.replace_all_batch_norm_modules_``
  would). ``learner.model`` keeps this behaviour; its weights keep their names.
- **Normalisation layers are composite.** torch's fused batch-, instance- and layer-norm
  kernels give a wrong second-order gradient under ``vmap`` when they have affine weights
  (pytorch/functorch issue #534; the finite-difference tests catch it), so
  :class:`BatchStatNorm`, :class:`InstanceStatNorm` (which never uses running statistics) and
  :class:`CompositeLayerNorm` (same maths as ``nn.LayerNorm``) are written with elementary
  ops. Group norm is already exact and stays.
- **Dropout is off.** The functional passes run with the copy in eval mode, so dropout (and
  anything else that differs between train and eval mode, other than batch norm above) is
  deterministic; the meta-learner is trained without dropout noise.
- **Head slicing.** With ``loss="ce"`` the model may have more outputs than ``ways`` (e.g. a
  classifier built for all of a data set's classes): the first ``ways`` logits,
  ``logits[..., :ways]``, are episode labels ``0..ways-1`` and the rest are ignored.
  ``loss="mse"`` compares the output, reshaped to the targets' shape, with the targets.
- **Reptile's inner optimiser** is plain full-batch SGD at ``inner_lr`` (the paper uses Adam on
  minibatches; SGD keeps every task's inner loop a pure function of θ, which ``vmap`` needs).
- **Fallback.** If ``vmap`` fails on some module (data-dependent control flow, ``.item()``,
  in-place updates), the learner computes the same maths with a Python loop over tasks and
  keeps doing so (``learner.vectorized`` becomes False).

Reference: Finn, Abbeel & Levine, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", ICML 2017; Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms",
arXiv:1803.02999, 2018.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, grad_and_value
from torch.func import vmap as func_vmap

from fivefold.errors import ConfigError
from fivefold.seeding import child_seed
from fivefold.techniques.adaptive.meta.episodes import Episode, as_episodes, stack_episodes

__all__ = [
    "BatchStatNorm",
    "Batching",
    "CompositeLayerNorm",
    "InstanceStatNorm",
    "LossFn",
    "LossKind",
    "MetaLearner",
    "Method",
    "Params",
    "episode_loss",
    "episode_score",
    "inner_adapt",
    "vmap_safe_norms_",
]

Params = dict[str, torch.Tensor]
"""Parameters (or buffers) by their ``named_parameters`` name."""
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(model output, targets) -> scalar loss``."""
Method = Literal["maml", "fomaml", "reptile"]
LossKind = Literal["ce", "mse"]
Batching = Literal["auto", "vmap", "loop"]
TaskFn = Callable[..., tuple[torch.Tensor, Params]]
"""One task's computation: its tensors in, (a scalar, a dict of tensors) out."""


class _CompositeNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with elementary ops, the mean and
    (biased) variance over :meth:`_dims`; subclasses choose the dimensions."""

    weight: nn.Parameter | None
    bias: nn.Parameter | None

    def __init__(self, eps: float, weight: nn.Parameter | None, bias: nn.Parameter | None) -> None:
        super().__init__()
        self.eps = eps
        self.register_parameter("weight", weight)
        self.register_parameter("bias", bias)

    def _dims(self, x: torch.Tensor) -> list[int]:
        raise NotImplementedError

    def _affine(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-channel (dim 1) parameters shaped to broadcast against ``x``."""
        return p.view(1, -1, *([1] * (x.dim() - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = self._dims(x)
        mean = x.mean(dims, keepdim=True)
        var = x.var(dims, correction=0, keepdim=True)
        out = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            out = out * self._affine(self.weight, x)
        if self.bias is not None:
            out = out + self._affine(self.bias, x)
        return out


class BatchStatNorm(_CompositeNorm):
    """Batch norm over dim 1 that always uses the statistics of its input batch.

    The mean and (biased) variance are over every dimension but the channels (dim 1); it keeps
    no running statistics.

    Args:
        source: the ``nn.BatchNorm1d/2d/3d`` whose ``eps``, ``weight`` and ``bias`` (the same
            parameter objects, or None) it takes over.
    """

    def __init__(self, source: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__(source.eps, source.weight, source.bias)

    def _dims(self, x: torch.Tensor) -> list[int]:
        return [0, *range(2, x.dim())]


class InstanceStatNorm(_CompositeNorm):
    """Instance norm (statistics of each sample and channel over the spatial dimensions,
    never running statistics) written with elementary ops.

    Args:
        source: the ``nn.InstanceNorm1d/2d/3d`` whose ``eps``, ``weight`` and ``bias`` it
            takes over.
    """

    def __init__(self, source: nn.modules.instancenorm._InstanceNorm) -> None:
        super().__init__(source.eps, source.weight, source.bias)

    def _dims(self, x: torch.Tensor) -> list[int]:
        return list(range(2, x.dim()))


class CompositeLayerNorm(_CompositeNorm):
    """``nn.LayerNorm`` (same maths and parameters) written with elementary ops.

    Args:
        source: the ``nn.LayerNorm`` whose shape, ``eps``, ``weight`` and ``bias`` it takes over.
    """

    def __init__(self, source: nn.LayerNorm) -> None:
        super().__init__(source.eps, source.weight, source.bias)
        self.n_dims = len(source.normalized_shape)

    def _dims(self, x: torch.Tensor) -> list[int]:
        return list(range(x.dim() - self.n_dims, x.dim()))

    def _affine(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return p


def _vmap_safe(module: nn.Module) -> nn.Module | None:
    """The composite replacement of a normalisation layer, or None to keep ``module``."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return BatchStatNorm(module)
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return InstanceStatNorm(module)
    if isinstance(module, nn.LayerNorm):
        return CompositeLayerNorm(module)
    return None


def vmap_safe_norms_(model: nn.Module) -> nn.Module:
    """Replace, in place, batch, instance and layer norms by :class:`BatchStatNorm`,
    :class:`InstanceStatNorm` and :class:`CompositeLayerNorm` (parameter names unchanged).

    Args:
        model: the module to change.

    Returns:
        ``model`` (or the replacement, when ``model`` itself is such a layer).
    """
    root = _vmap_safe(model)
    if root is not None:
        return root
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            replacement = _vmap_safe(child)
            if replacement is not None:
                setattr(parent, name, replacement)
    return model


def _forward(model: nn.Module, params: Params, buffers: Params, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` with the given parameters and buffers."""
    out: torch.Tensor = functional_call(model, (params, buffers), (x,))
    return out


def inner_adapt(
    model: nn.Module,
    params: Params,
    buffers: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr: float,
    loss_fn: LossFn,
    first_order: bool,
) -> Params:
    """``steps`` plain full-batch SGD steps ``θ ← θ - lr ∇L(θ; x, y)`` from ``params``.

    The gradients come from ``torch.func.grad`` over ``functional_call``, so the function
    composes with ``vmap`` (one task per batch entry) and with an outer ``grad``.

    Second order (MAML, ``first_order=False``): the inner gradients stay in the graph, so an
    outer gradient of a loss at the adapted parameters differentiates through them (Hessian-
    vector products included). First order (FOMAML, ``first_order=True``): each inner gradient
    is detached, ``θ' = θ - lr · stopgrad(∇L(θ))``, so ``dθ'/dθ = I`` and the meta-gradient is
    the query gradient at θ'. For one step, MAML's meta-gradient is
    ``(I - lr ∇²L_support(θ)) ∇L_query(θ')``; FOMAML's is the same with the Hessian term removed.

    Args:
        model: the module whose forward is used (its own parameter values are not).
        params: the starting parameters θ (names as in ``model.named_parameters()``).
        buffers: buffers and frozen parameters, passed through unchanged.
        x: (N, ...) inputs of the task's training set (the support set).
        y: (N,) labels or targets.
        steps: number of SGD steps (0 returns ``params``).
        lr: the inner learning rate α.
        loss_fn: ``(output, y) -> scalar`` loss.
        first_order: detach the inner gradients (FOMAML, Reptile, evaluation).

    Returns:
        the adapted parameters θ'.
    """

    def loss(p: Params) -> torch.Tensor:
        return loss_fn(_forward(model, p, buffers, x), y)

    grad_fn = grad(loss)
    for _ in range(steps):
        grads: Params = grad_fn(params)
        params = {
            name: value - lr * (grads[name].detach() if first_order else grads[name])
            for name, value in params.items()
        }
    return params


def _head(out: torch.Tensor, ways: int) -> torch.Tensor:
    """The first ``ways`` logits; ConfigError when the model has fewer outputs."""
    if out.shape[-1] < ways:
        raise ConfigError(
            f"MetaLearner: the model gives {out.shape[-1]} outputs but ways={ways}; build the "
            f"model with at least {ways} outputs or lower ways"
        )
    return out[..., :ways]


def episode_loss(kind: LossKind, ways: int) -> LossFn:
    """The training loss of an episode.

    Args:
        kind: "ce" (cross-entropy on the first ``ways`` logits) or "mse" (mean squared error of
            the output reshaped to the targets' shape).
        ways: classes per episode (ignored for "mse").

    Returns:
        ``(output, targets) -> scalar loss``.
    """
    if kind == "mse":
        return lambda out, y: F.mse_loss(out.reshape(y.shape), y)
    return lambda out, y: F.cross_entropy(_head(out, ways), y)


def episode_score(kind: LossKind, ways: int) -> LossFn:
    """The evaluation score of an episode: accuracy for "ce", mean squared error for "mse".

    Args:
        kind: "ce" or "mse".
        ways: classes per episode (ignored for "mse").

    Returns:
        ``(output, targets) -> scalar score``.
    """
    if kind == "mse":
        return lambda out, y: F.mse_loss(out.reshape(y.shape), y)
    return lambda out, y: (_head(out, ways).argmax(-1) == y).to(torch.float32).mean()


def _check_options(
    method: str, loss: str, batching: str, numbers: dict[str, float], ways: int
) -> None:
    """ConfigError on an unknown choice or a non-positive size or rate."""
    choices = (
        ("method", method, ("maml", "fomaml", "reptile")),
        ("loss", loss, ("ce", "mse")),
        ("batching", batching, ("auto", "vmap", "loop")),
    )
    for name, value, allowed in choices:
        if value not in allowed:
            raise ConfigError(f"MetaLearner: {name}={value!r} is unknown; use one of {allowed}")
    for name, number in numbers.items():
        if not number > 0:
            raise ConfigError(f"MetaLearner: {name}={number} must be positive")
    if loss == "ce" and ways < 1:
        raise ConfigError(f"MetaLearner: ways={ways} must be 1 or more with loss='ce'")


def _stack_outputs(outs: Sequence[tuple[torch.Tensor, Params]]) -> tuple[torch.Tensor, Params]:
    """Stack per-task (scalar, dict) outputs along a new leading task dimension."""
    scalars = torch.stack([o[0] for o in outs])
    return scalars, {name: torch.stack([o[1][name] for o in outs]) for name in outs[0][1]}


class MetaLearner:
    """Meta-learns an initialisation θ from which a few SGD steps fit a new task.

    Args:
        model: the network; the learner works on a deep copy (``learner.model``), see the
            module docstring for batch norm, dropout and head slicing.
        method: "maml" (second order), "fomaml" (first-order MAML) or "reptile".
        ways: classes per episode; the first ``ways`` logits are used (ignored for "mse").
        inner_lr: the inner SGD learning rate α.
        inner_steps: inner SGD steps per task during meta-training (and the default at
            adaptation).
        meta_lr: Adam's learning rate for the outer MAML/FOMAML step (unused by Reptile).
        meta_batch: tasks per meta-step in :meth:`fit`.
        reptile_step: Reptile's outer step size ε in ``θ ← θ + ε (mean_i φ_i - θ)``.
        loss: "ce" for classification episodes, "mse" for regression.
        seed: seeds torch's global stream, forked, around every functional pass; with the copy
            in eval mode the passes draw nothing, so this only matters for custom modules that
            are random in eval mode.
        batching: "auto" (``vmap``, falling back to a loop on failure), "vmap" or "loop".

    Raises:
        ConfigError: on an unknown method, loss or batching, or a non-positive size or rate.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        method: Method = "maml",
        ways: int,
        inner_lr: float = 0.01,
        inner_steps: int = 1,
        meta_lr: float = 1e-3,
        meta_batch: int = 4,
        reptile_step: float = 0.1,
        loss: LossKind = "ce",
        seed: int = 0,
        batching: Batching = "auto",
    ) -> None:
        numbers = {
            "inner_lr": inner_lr,
            "inner_steps": inner_steps,
            "meta_lr": meta_lr,
            "meta_batch": meta_batch,
            "reptile_step": reptile_step,
        }
        _check_options(method, loss, batching, numbers, ways)
        self.method, self.ways, self.loss, self.seed = method, ways, loss, seed
        self.inner_lr, self.inner_steps = inner_lr, inner_steps
        self.meta_batch, self.reptile_step, self.batching = meta_batch, reptile_step, batching
        self.model = vmap_safe_norms_(copy.deepcopy(model)).eval()
        self.loss_fn = episode_loss(loss, ways)
        self.score_fn = episode_score(loss, ways)
        self.optimizer = torch.optim.Adam(self._trainable().values(), lr=meta_lr)
        self.vectorized = batching != "loop"
        self.iterations = 0

    def _trainable(self) -> dict[str, nn.Parameter]:
        """The meta-learned parameters (those that require grad)."""
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def params(self) -> Params:
        """Detached current values of the meta-learned parameters θ."""
        return {name: p.detach() for name, p in self._trainable().items()}

    def _fixed(self) -> Params:
        """Buffers and frozen parameters, passed through every functional call unchanged."""
        fixed = {n: b.detach() for n, b in self.model.named_buffers()}
        frozen = self.model.named_parameters()
        fixed.update({n: p.detach() for n, p in frozen if not p.requires_grad})
        return fixed

    def _over_tasks(self, fn: TaskFn, *batched: torch.Tensor) -> tuple[torch.Tensor, Params]:
        """``fn`` on each task (the leading dimension of ``batched``), outputs stacked.

        ``vmap`` when allowed and working; otherwise a Python loop with the same maths. A
        failed ``vmap`` switches the learner to the loop only once the loop has succeeded, so
        a genuine error (e.g. a shape mismatch) still surfaces from the loop.
        """
        if self.vectorized:
            try:
                out: tuple[torch.Tensor, Params] = func_vmap(fn, randomness="different")(*batched)
                return out
            except (RuntimeError, NotImplementedError):
                if self.batching == "vmap":
                    raise
        stacked = _stack_outputs([fn(*(t[i] for t in batched)) for i in range(len(batched[0]))])
        self.vectorized = False
        return stacked

    def _seeded(self, purpose: str) -> None:
        """Seed the (forked) global stream from ``seed``, ``purpose`` and the step count."""
        torch.manual_seed(child_seed(self.seed, "meta", purpose, self.iterations))

    def _maml_objective(self, batch: Episode) -> Callable[[Params], tuple[torch.Tensor, Params]]:
        """θ ↦ (mean post-adaptation query loss, {}) for MAML (or FOMAML)."""
        fixed, first_order = self._fixed(), self.method == "fomaml"

        def objective(theta: Params) -> tuple[torch.Tensor, Params]:
            def task(
                sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor
            ) -> tuple[torch.Tensor, Params]:
                adapted = inner_adapt(
                    self.model,
                    theta,
                    fixed,
                    sx,
                    sy,
                    steps=self.inner_steps,
                    lr=self.inner_lr,
                    loss_fn=self.loss_fn,
                    first_order=first_order,
                )
                return self.loss_fn(_forward(self.model, adapted, fixed, qx), qy), {}

            losses, _ = self._over_tasks(
                task, batch.support_x, batch.support_y, batch.query_x, batch.query_y
            )
            return losses.mean(), {}

        return objective

    def _reptile_direction(self, batch: Episode) -> tuple[Params, float]:
        """(θ - mean_i φ_i, mean query loss at θ) over the tasks of ``batch``."""
        theta, fixed = self.params(), self._fixed()

        def task(
            sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor
        ) -> tuple[torch.Tensor, Params]:
            before = self.loss_fn(_forward(self.model, theta, fixed, qx), qy)
            phi = inner_adapt(
                self.model,
                theta,
                fixed,
                torch.cat([sx, qx]),
                torch.cat([sy, qy]),
                steps=self.inner_steps,
                lr=self.inner_lr,
                loss_fn=self.loss_fn,
                first_order=True,
            )
            return before.detach(), {n: v.detach() for n, v in phi.items()}

        losses, phis = self._over_tasks(
            task, batch.support_x, batch.support_y, batch.query_x, batch.query_y
        )
        direction = {name: theta[name] - phis[name].mean(0) for name in theta}
        return direction, float(losses.mean())

    def meta_gradient(self, episode_batch: Episode) -> tuple[Params, float]:
        """The outer gradient at the current θ, without updating anything.

        MAML: the gradient of the mean post-adaptation query loss, through the inner steps.
        FOMAML: the same with the inner gradients detached (the mean query gradient at the
        adapted parameters). Reptile: the pseudo-gradient ``θ - mean_i φ_i``, φ_i being
        ``inner_steps`` SGD steps on task i's support ∪ query rows.

        Args:
            episode_batch: a batched :class:`Episode` (E tasks).

        Returns:
            (gradient by parameter name, mean query loss before the outer update: after
            adaptation for MAML/FOMAML, at θ for Reptile).

        Raises:
            ConfigError: when the episode is not batched.
        """
        if not episode_batch.batched:
            raise ConfigError(
                "MetaLearner: meta_step needs a batch of episodes; use sampler.sample_batch(n)"
            )
        self.model.eval()
        with torch.random.fork_rng(devices=[]):
            self._seeded("step")
            if self.method == "reptile":
                return self._reptile_direction(episode_batch)
            grads, (value, _) = grad_and_value(self._maml_objective(episode_batch), has_aux=True)(
                self.params()
            )
        return grads, float(value)

    def meta_step(self, episode_batch: Episode) -> float:
        """One outer update from a batch of E episodes.

        MAML/FOMAML: one Adam step at ``meta_lr`` on the meta-gradient. Reptile:
        ``θ ← θ + ε (mean_i φ_i - θ)``.

        Args:
            episode_batch: a batched :class:`Episode` (E tasks).

        Returns:
            the mean query loss before the update (see :meth:`meta_gradient`).
        """
        grads, value = self.meta_gradient(episode_batch)
        trainable = self._trainable()
        if self.method == "reptile":
            with torch.no_grad():
                for name, p in trainable.items():
                    p.sub_(self.reptile_step * grads[name])
        else:
            self.optimizer.zero_grad(set_to_none=True)
            for name, p in trainable.items():
                p.grad = grads[name].to(p.dtype)
            self.optimizer.step()
        self.iterations += 1
        return value

    def fit(self, sample_batch: Callable[[int], Episode], iterations: int) -> list[float]:
        """``iterations`` meta-steps, each on ``sample_batch(meta_batch)``.

        Args:
            sample_batch: draws a batch of n episodes (e.g. ``EpisodeSampler.sample_batch``).
            iterations: number of meta-steps.

        Returns:
            the value :meth:`meta_step` returned at each step.
        """
        return [self.meta_step(sample_batch(self.meta_batch)) for _ in range(iterations)]

    def adapt(
        self,
        support_x: torch.Tensor,
        support_y: torch.Tensor,
        steps: int | None = None,
        lr: float | None = None,
    ) -> Params:
        """Fine-tune θ on one support set with plain SGD.

        Args:
            support_x: (S, ...) support inputs of one episode.
            support_y: (S,) labels (or targets).
            steps: SGD steps (None: ``inner_steps``; 0: θ itself).
            lr: step size (None: ``inner_lr``).

        Returns:
            the adapted parameters (detached), usable with
            ``torch.func.functional_call(learner.model, params, (x,))``.
        """
        self.model.eval()
        with torch.random.fork_rng(devices=[]):
            self._seeded("adapt")
            adapted = inner_adapt(
                self.model,
                self.params(),
                self._fixed(),
                support_x,
                support_y,
                steps=self.inner_steps if steps is None else steps,
                lr=self.inner_lr if lr is None else lr,
                loss_fn=self.loss_fn,
                first_order=True,
            )
        return {name: value.detach() for name, value in adapted.items()}

    def evaluate(
        self,
        episodes: Episode | Sequence[Episode],
        steps: int | None = None,
        lr: float | None = None,
    ) -> np.ndarray:
        """Adapt on each episode's support set, then score its query set.

        Args:
            episodes: a batched episode, or single episodes of equal sizes.
            steps: SGD steps on each support set (None: ``inner_steps``; 0: no adaptation).
            lr: step size (None: ``inner_lr``).

        Returns:
            (E,) float64 query accuracy per episode ("ce") or query MSE ("mse").
        """
        batch = episodes if isinstance(episodes, Episode) else stack_episodes(as_episodes(episodes))
        if not batch.batched:
            batch = stack_episodes([batch])
        theta, fixed = self.params(), self._fixed()
        n_steps = self.inner_steps if steps is None else steps
        step_lr = self.inner_lr if lr is None else lr

        def task(
            sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor
        ) -> tuple[torch.Tensor, Params]:
            adapted = inner_adapt(
                self.model,
                theta,
                fixed,
                sx,
                sy,
                steps=n_steps,
                lr=step_lr,
                loss_fn=self.loss_fn,
                first_order=True,
            )
            return self.score_fn(_forward(self.model, adapted, fixed, qx), qy).detach(), {}

        self.model.eval()
        with torch.random.fork_rng(devices=[]):
            self._seeded("evaluate")
            scores, _ = self._over_tasks(
                task, batch.support_x, batch.support_y, batch.query_x, batch.query_y
            )
        return scores.detach().to(torch.float64).numpy()
