"""The ``ensemble`` technique: several members of the task's model, joined at evaluation time."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from fivefold.data.task import Task, index_inputs
from fivefold.seeding import child_seed, torch_generator
from fivefold.techniques.ensemble.config import EnsembleConfig
from fivefold.techniques.ensemble.methods import (
    bootstrap_rows,
    fit_meta_learner,
    fold_rows,
    out_of_fold,
    samme_step,
)
from fivefold.training.checkpoint import save_members
from fivefold.training.combiners import Combiner, MeanCombiner, VoteCombiner
from fivefold.training.hooks import FitContext, FitFn, FitResult, Technique
from fivefold.training.predict import predict_logits
from fivefold.training.subject import Ensemble, Subject
from fivefold.training.together import fit_members, member_stream

__all__ = ["Ensembling"]


class _Members:
    """Fresh members, their contexts and dropout streams for one ensemble fit.

    Member 0 starts from the model the trial built and trains with the trial's own seed, batch
    order and dropout stream: it is the model the recipe without ``ensemble`` would train.
    Member k >= 1 is ``ctx.build_model(seed_k)`` with ``seed_k = child_seed(seed, "ensemble",
    k)`` (pretrained weights kept), its own batch order and dropout stream.
    """

    def __init__(self, model: nn.Module, ctx: FitContext) -> None:
        self.ctx = ctx
        self.initial = copy.deepcopy(model)
        self.stream0 = member_stream()
        self.train = dataclasses.replace(ctx.train, checkpoint=False)  # one ensemble file

    def seed(self, k: int) -> int:
        return self.ctx.seed if k == 0 else child_seed(self.ctx.seed, "ensemble", k)

    def model(self, k: int) -> nn.Module:
        if k == 0:
            return copy.deepcopy(self.initial)
        if self.ctx.build_model is not None:
            return self.ctx.build_model(self.seed(k))
        return _reinitialised(self.initial, self.seed(k))

    def stream(self, k: int) -> torch.Generator:
        if k == 0:
            gen = torch.Generator()
            gen.set_state(self.stream0.get_state())
            return gen
        return torch_generator(self.ctx.seed, "ensemble", k, "dropout")

    def context(self, name: str, k: int) -> FitContext:
        ctx = self.ctx.for_member(name, self.seed(k))
        ctx.train = self.train
        return ctx


def _reinitialised(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer's ``reset_parameters()`` drawn from ``seed``."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in fresh.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
    return fresh


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Ensembling(Technique):
    """Ensembles: K members of the task's model, joined by their mean probability, a weighted
    vote or a meta-learner; every pillar then scores the ensemble.

    - ``deep``: independently initialised members trained on all rows (Lakshminarayanan et al.);
    - ``bagging``: each member on its own bootstrap sample (Breiman);
    - ``snapshot``: one run, the learning rate annealed from its peak to 0 in each of K cycles
      (cosine, restarting at the peak), a member at the end of every cycle (Huang et al.); the
      optimizer state restarts with each cycle;
    - ``boosting``: multi-class SAMME (Zhu et al.): member m trains on a weighted resample of
      the rows, gets vote weight ``log((1 - err_m) / err_m) + log(K - 1)``, and the rows it
      misclassified gain weight; the ensemble is the weighted vote;
    - ``stacking``: out-of-fold member probabilities (each predicted by members that never
      saw that row) fit a logistic-regression meta-learner; the members are then retrained on
      all rows (Wolpert).

    Same-architecture members (``mlp``, ``cnn``) of deep ensembles, bagging and stacking's
    folds train together as one wide model (stacked weights, batched matmuls, grouped
    convolutions, one fused optimizer step); each ends as it would have alone. Member 0 is the
    model the recipe without ``ensemble`` trains.

    Reports under ``techniques.ensemble``: the method, members, whether they trained together
    (and why not), fits, training seconds, parameters and validation accuracy per member, and
    SAMME's errors and weights or the meta-learner's out-of-fold accuracy.

    Reference: Lakshminarayanan, Pritzel & Blundell, "Simple and scalable predictive
    uncertainty estimation using deep ensembles", NeurIPS 2017; Breiman, "Bagging predictors",
    Machine Learning 1996; Huang et al., "Snapshot ensembles: train 1, get M for free", ICLR
    2017; Zhu, Zou, Rosset & Hastie, "Multi-class AdaBoost", Statistics and its Interface 2009;
    Wolpert, "Stacked generalization", Neural Networks 1992.
    """

    Config = EnsembleConfig
    quick: ClassVar[dict[str, Any]] = {"members": 2, "folds": 2}

    def __init__(self, name: str, config: EnsembleConfig) -> None:
        super().__init__(name, config)
        self.config: EnsembleConfig = config
        self.module_: Ensemble | None = None

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Train the members with the inner fit, then hand back their :class:`Ensemble`."""

        def fit_ensemble(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            start = time.perf_counter()
            members = _Members(model, ctx)
            run = getattr(self, f"_{self.config.method}")
            results, combiner, report = run(members, task, fit)
            module = Ensemble([r.model for r in results], combiner)
            self.module_ = module
            report.update(
                method=self.config.method,
                members=len(results),
                params_per_member=[_params(r.model) for r in results],
                member_val_accuracy=[
                    r.history[-1]["val_accuracy"] if r.history else None for r in results
                ],
                train_seconds=time.perf_counter() - start,
            )
            files = ctx.files_dir
            if ctx.train.checkpoint and files is not None:
                files.mkdir(parents=True, exist_ok=True)
                save_members(list(module.members), files / "model.safetensors", combiner)
            ctx.extras[self.name] = report
            first = results[0]
            return FitResult(
                model=module,
                history=first.history,
                best_epoch=first.best_epoch,
                stopped_early=first.stopped_early,
                train_seconds=time.perf_counter() - start,
                extras=dict(ctx.extras),
            )

        return fit_ensemble

    def adapt_subject(self, subject: Subject, task: Task, ctx: FitContext) -> Subject:
        """The members as the subject, joined by the combiner (the fitted ensemble only)."""
        module = self.module_
        if module is None or subject.members != (module,):
            return subject
        return Subject(
            list(module.members),
            subject.refit,
            subject.eval_batch_size,
            combiner=module.combiner,
        )

    # -- methods: each returns (member fit results, combiner, report) ------------------------

    def _train(
        self,
        members: _Members,
        task: Task,
        fit: FitFn,
        ids: Sequence[int],
        names: Sequence[str],
        rows: Sequence[torch.Tensor] | None,
    ) -> tuple[list[FitResult], str | None]:
        models = [members.model(k) for k in ids]
        ctxs = [members.context(n, k) for n, k in zip(names, ids, strict=True)]
        streams = [members.stream(k) for k in ids]
        return fit_members(
            models, task, ctxs, streams, rows, fit_fn=fit, together=self.config.together
        )

    def _deep(
        self, members: _Members, task: Task, fit: FitFn
    ) -> tuple[list[FitResult], Combiner, dict[str, Any]]:
        ids = range(self.config.members)
        results, why = self._train(members, task, fit, ids, _names(ids), None)
        return results, MeanCombiner(), _together(why, fits=len(ids))

    def _bagging(
        self, members: _Members, task: Task, fit: FitFn
    ) -> tuple[list[FitResult], Combiner, dict[str, Any]]:
        ids = range(self.config.members)
        n = len(task.train)
        rows = [
            bootstrap_rows(n, self.config.bootstrap, torch_generator(members.ctx.seed, "bag", k))
            for k in ids
        ]
        results, why = self._train(members, task, fit, ids, _names(ids), rows)
        unique = [len(torch.unique(r)) / n for r in rows]
        report = _together(why, fits=len(ids))
        report["unique_row_share"] = unique
        return results, MeanCombiner(), report

    def _snapshot(
        self, members: _Members, task: Task, fit: FitFn
    ) -> tuple[list[FitResult], Combiner, dict[str, Any]]:
        cycles = self.config.members
        epochs = max(1, members.ctx.train.resolved(len(task.train)).max_epochs // cycles)
        cycle_train = dataclasses.replace(
            members.train,
            epochs=epochs,
            schedule="cosine",
            patience=None,
            restore_best=False,
        )
        model = members.model(0)
        results = []
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(members.stream(0).get_state())
            for c in range(cycles):
                ctx = members.ctx.for_member(f"cycle-{c}", members.seed(c))
                ctx.train = dataclasses.replace(
                    cycle_train, warmup_epochs=cycle_train.warmup_epochs if c == 0 else 0.0
                )
                result = fit(model, task, ctx)
                results.append(dataclasses.replace(result, model=copy.deepcopy(result.model)))
                model = result.model
        report = _together("one run with a cyclic learning rate", fits=1)
        report["epochs_per_cycle"] = epochs
        return results, MeanCombiner(), report

    def _boosting(
        self, members: _Members, task: Task, fit: FitFn
    ) -> tuple[list[FitResult], Combiner, dict[str, Any]]:
        train = task.train
        n, k_classes = len(train), task.n_classes
        weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
        results: list[FitResult] = []
        alphas, errors, stop = [], [], ""
        for m in range(self.config.members):
            gen = torch_generator(members.ctx.seed, "boost", m)
            rows = torch.multinomial(weights, n, replacement=True, generator=gen)
            (result,), _ = self._train(members, task, fit, [m], [f"member-{m}"], [rows])
            pred = predict_logits(result.model, train.x, members.ctx.train.eval_batch_size)
            step = samme_step(weights, pred.argmax(1) != train.y, k_classes, first=m == 0)
            errors.append(step.error)
            if step.keep:
                results.append(result)
                alphas.append(step.weight)
            weights, stop = step.sample_weights, step.stop
            if stop:
                break
        report = _together("boosting trains its members in sequence", fits=len(errors))
        report.update(member_weights=alphas, weighted_errors=errors, stopped=stop or None)
        return results, VoteCombiner(alphas), report

    def _stacking(
        self, members: _Members, task: Task, fit: FitFn
    ) -> tuple[list[FitResult], Combiner, dict[str, Any]]:
        cfg, train = self.config, task.train
        ids = list(range(cfg.members))
        folds = fold_rows(train.y, cfg.folds, torch_generator(members.ctx.seed, "stack-folds"))
        batch = members.ctx.train.eval_batch_size
        reasons: list[str | None] = []

        def train_fold(f: int, rows: torch.Tensor) -> list[Callable[[torch.Tensor], torch.Tensor]]:
            names = [f"fold-{f}-member-{k}" for k in ids]
            fitted, why = self._train(members, task, fit, ids, names, [rows] * len(ids))
            reasons.append(why)
            return [_predictor(r.model, train.x, batch) for r in fitted]

        oof = out_of_fold(train_fold, len(train), folds, len(ids), task.n_classes)
        combiner = fit_meta_learner(oof, train.y, cfg.meta_l2)
        results, why = self._train(members, task, fit, ids, _names(ids), None)
        with torch.no_grad():
            meta = combiner.meta(combiner.features(oof)).argmax(1)
        report = _together(why, fits=len(ids) * (cfg.folds + 1))
        report.update(
            folds=cfg.folds,
            folds_trained_together=all(r is None for r in reasons),
            meta_oof_accuracy=float((meta == train.y).float().mean()),
            mean_oof_accuracy=float((oof.mean(0).argmax(1) == train.y).float().mean()),
        )
        return results, combiner, report


def _names(ids: Sequence[int]) -> list[str]:
    return [f"member-{k}" for k in ids]


def _together(why: str | None, *, fits: int) -> dict[str, Any]:
    return {"trained_together": why is None, "one_by_one_because": why, "fits": fits}


def _predictor(model: nn.Module, x: Any, batch: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda rows: torch.softmax(predict_logits(model, index_inputs(x, rows), batch), dim=1)
