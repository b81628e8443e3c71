"""The ``continual`` technique: learning experiences one after another, or a drifting stream.

Scenarios:

- ``class``: the classes are split into ``experiences`` groups (a seeded class order); the
  model trains on each group's rows in turn with one shared head over all classes (single-head
  class-incremental learning). After each experience it is scored on every experience's test
  rows: the accuracy matrix ``R[i, j]``, from which average accuracy, forgetting and backward
  transfer (:mod:`.metrics`).
- ``domain``: every experience holds all classes under an increasing shift (rotation or
  noise, with the shared transforms) and its own share of the training rows.
- ``stream``: the task's ordered "stream" split (a drifting dataset such as ``sea_stream``)
  is learnt test-then-train in chunks (prequential evaluation), optionally with a river drift
  detector on the error stream whose detections trigger an adaptation.

Strategies: ``naive`` fine-tuning; ``replay`` (a reservoir buffer of earlier rows, mixed into
every batch); ``ewc`` (a diagonal-Fisher penalty towards each earlier experience's weights).
Each experience is one ordinary ``fit`` (the inner techniques, epochs, early stopping on that
experience's validation rows); the pillars score the model as it ends. The scores also join
the generalization pillar (``continual_*``).

References: van de Ven & Tolias, "Three scenarios for continual learning", 2019; Chaudhry et
al., "Riemannian walk for incremental learning", ECCV 2018 (forgetting); Lopez-Paz & Ranzato,
"Gradient episodic memory", NeurIPS 2017 (backward transfer); Kirkpatrick et al.,
"Overcoming catastrophic forgetting in neural networks", PNAS 2017 (EWC); Chaudhry et al.,
"On tiny episodic memories in continual learning", 2019 (experience replay); Gama et al., "A
survey on concept drift adaptation", ACM CSUR 2014 (prequential evaluation).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from fivefold.data.task import Task, index_inputs, input_length
from fivefold.errors import ConfigError
from fivefold.schema import option, to_dict
from fivefold.seeding import child_seed, torch_generator
from fivefold.techniques.adaptive.continual.detectors import make_detector
from fivefold.techniques.adaptive.continual.ewc import (
    EWCPenalty,
    anchor_of,
    fisher_diagonal,
    merge_penalties,
)
from fivefold.techniques.adaptive.continual.metrics import (
    continual_scores,
    detection_report,
    drift_recovery,
    prequential_curve,
)
from fivefold.techniques.adaptive.continual.online import prequential_train
from fivefold.techniques.adaptive.continual.replay import ReservoirBuffer
from fivefold.techniques.adaptive.continual.streams import (
    Experience,
    class_incremental,
    domain_incremental,
)
from fivefold.training.hooks import Batch, FitContext, FitFn, FitResult, Technique
from fivefold.training.predict import predict_logits

__all__ = ["Continual", "ContinualConfig"]

OUTER_ONLY = ("ensemble", "fusion", "ssl")
"""Techniques whose ``wrap_fit`` must run once, outside the experiences: listed after
``continual`` they would run again for every experience."""


@dataclass(frozen=True)
class ContinualConfig:
    """The scenario, the strategy against forgetting and, for streams, drift handling."""

    scenario: Literal["class", "domain", "stream"] = option(
        "class",
        help="class: the classes arrive in groups; domain: all classes under a growing "
        "shift; stream: the task's ordered stream (e.g. sea_stream), test then train",
    )
    experiences: int = option(5, help="class/domain: number of experiences", min=2, max=100)
    strategy: Literal["naive", "replay", "ewc"] = option(
        "naive",
        help="naive: fine-tune on each experience; replay: mix rows of a reservoir buffer "
        "into every batch; ewc: diagonal-Fisher penalty towards earlier weights (not stream)",
    )
    buffer: int = option(500, help="replay: rows the reservoir buffer keeps", min=1, max=10**7)
    replay_batch: int = option(
        0, help="replay: buffer rows added to every batch (0: the training batch size)", min=0
    )
    ewc_lambda: float = option(
        100.0, help="ewc: penalty strength λ (λ/2 Σ F (θ - θ*)²)", min=0.0, exclusive_min=True
    )
    fisher: Literal["sampled", "true", "empirical"] = option(
        "sampled",
        help="ewc: the Fisher diagonal from labels drawn from the model's own predictions "
        "(one per row: an unbiased estimate of the true Fisher at the cost of one gradient), "
        "exactly over every class (true), or from the rows' labels (empirical)",
    )
    fisher_samples: int = option(
        1000, help="ewc: training rows the Fisher diagonal is estimated on", min=10
    )
    class_order: tuple[int, ...] = option(
        (), help="class: the order classes arrive in (empty: a permutation from the seed)"
    )
    domain: Literal["rotation", "noise"] = option(
        "rotation", help="domain: the shift that grows from experience to experience"
    )
    max_level: float = option(
        90.0,
        help="domain: the last experience's shift (rotation degrees, noise std in units of "
        "the input range)",
        min=0.0,
        exclusive_min=True,
    )
    chunk: int = option(10, help="stream: rows per test-then-train step", min=1, max=100_000)
    detector: Literal["none", "adwin", "page_hinkley", "kswin"] = option(
        "none", help="stream: river drift detector on the error (or loss) stream"
    )
    signal: Literal["error", "loss"] = option(
        "error", help="stream: what the detector watches: each row's 0/1 error or its loss"
    )
    detector_options: Mapping[str, float] | None = option(
        None,
        help="stream: options of the river detector, e.g. {delta = 0.0001} for adwin "
        "(fewer false alarms) or {threshold = 80} for page_hinkley",
    )
    on_drift: Literal["lr_boost", "replay_refresh", "reset_head"] = option(
        "lr_boost",
        help="stream: what a detection triggers: a learning-rate boost, emptying the replay "
        "buffer, or re-initialising the last linear layer",
    )
    boost: float = option(10.0, help="stream, lr_boost: learning-rate factor", min=1.0)
    boost_steps: int = option(50, help="stream, lr_boost: steps a boost lasts", min=1)
    window: int = option(
        200, help="stream: rows of the prequential accuracy window (curve, recovery)", min=10
    )
    tolerance: float = option(
        0.05,
        help="stream: recovered once the windowed accuracy is within this of its pre-drift level",
        min=0.0,
        max=1.0,
    )


class _Replay(Technique):
    """Adds ``rows`` rows drawn from the buffer to every training batch."""

    Config = ContinualConfig
    batch_only = True

    def __init__(self, buffer: ReservoirBuffer, rows: int, seed: int) -> None:
        super().__init__("continual-replay", None)
        self.buffer, self.rows = buffer, rows
        self.generator = torch_generator(seed, "replay")

    def adapt_batch(self, batch: Batch, model: nn.Module, ctx: FitContext) -> Batch:
        if len(self.buffer) == 0 or batch.target is not None:
            return batch
        x, y = self.buffer.sample(self.rows, self.generator)
        if isinstance(batch.x, dict):
            assert isinstance(x, dict)
            joined: Any = {k: torch.cat([batch.x[k], x[k]]) for k in batch.x}
        else:
            assert isinstance(x, torch.Tensor)
            joined = torch.cat([batch.x, x])
        group = None if batch.group is None else torch.cat([batch.group, -torch.ones_like(y)])
        return Batch(joined, torch.cat([batch.y, y]), None, group)


class _Penalty(Technique):
    """Adds the EWC penalty of the experiences so far to every step's loss."""

    Config = ContinualConfig

    def __init__(self, penalty: EWCPenalty) -> None:
        super().__init__("continual-ewc", None)
        self.term = penalty

    def penalty(self, model: nn.Module, ctx: FitContext) -> torch.Tensor:
        return self.term(model)


def _accuracy(model: nn.Module, task: Task, batch_size: int) -> float:
    test = task.test
    if len(test) == 0:
        return float("nan")
    model.eval()
    pred = predict_logits(model, test.x, batch_size).argmax(1)
    return float((pred == test.y).float().mean())


class Continual(Technique):
    """``continual``: class- or domain-incremental experiences, or a drifting stream learnt
    test-then-train, with naive fine-tuning, experience replay or EWC (see the module
    docstring).

    Reports under ``techniques.continual``: the experiences (classes, rows), the accuracy
    matrix and its scores; for streams, the prequential accuracy and curve, the true drift
    positions, the detections matched against them, and the drop and recovery at each drift.

    Reference: van de Ven & Tolias 2019; Kirkpatrick et al., PNAS 2017; Chaudhry et al. 2018
    and 2019; Lopez-Paz & Ranzato, NeurIPS 2017; Gama et al., ACM CSUR 2014.
    """

    Config = ContinualConfig
    # these change the model in every fit, so they would run again at every experience
    conflicts: ClassVar[frozenset[str]] = frozenset({"peft", "freelb", "transfer"})
    quick: ClassVar[dict[str, Any]] = {"experiences": 3, "fisher_samples": 50, "buffer": 50}

    def __init__(self, name: str, config: ContinualConfig) -> None:
        super().__init__(name, config)
        self.config: ContinualConfig = config

    @classmethod
    def check_task(cls, config: ContinualConfig, task: Task) -> None:
        """Plan time: the scenario must fit the data."""
        if config.scenario == "stream":
            if "stream" not in task.splits:
                raise ConfigError(
                    f"continual scenario 'stream' needs data that arrive in order, and "
                    f"{task.name!r} has none: use sea_stream, hyperplane_stream, "
                    "agrawal_stream or rbf_stream, or scenario = 'class' | 'domain'"
                )
            if config.detector != "none":
                make_detector(config.detector, config.detector_options, 0)  # checks the options
            elif config.detector_options:
                raise ConfigError(
                    "continual.detector_options are set but detector = 'none': choose a "
                    "detector (adwin, page_hinkley, kswin) or remove them"
                )
            if config.strategy == "ewc":
                raise ConfigError(
                    "continual strategy 'ewc' needs experiences with an end; a stream has "
                    "none: use strategy = 'replay' or 'naive', or scenario = 'class'"
                )
            return
        if config.scenario == "class":
            c = task.n_classes
            if config.experiences > c or c % config.experiences:
                raise ConfigError(
                    f"continual.experiences = {config.experiences} must divide the "
                    f"{c} classes of {task.name!r} (e.g. {_divisors(c)})"
                )
            order = config.class_order
            if order and sorted(order) != list(range(c)):
                raise ConfigError(
                    f"continual.class_order must list every class id 0..{c - 1} once, "
                    f"got {list(order)}"
                )
        if config.scenario == "domain":
            kinds = {i.kind for i in task.inputs.values()}
            if "text" in kinds or (config.domain == "rotation" and kinds != {"image"}):
                raise ConfigError(
                    f"continual domain {config.domain!r} cannot shift the "
                    f"{', '.join(sorted(kinds))} inputs of {task.name!r}: use rotation for "
                    "images, noise for image, sequence or tabular inputs"
                )

    @classmethod
    def check_model(cls, config: ContinualConfig, model: nn.Module, recipe: Sequence[str]) -> None:
        """Plan time: techniques that must run once are listed before ``continual``."""
        names = list(recipe)
        after = names[names.index("continual") + 1 :] if "continual" in names else []
        late = [n for n in after if n in OUTER_ONLY]
        if late:
            raise ConfigError(
                f"list {late[0]!r} before 'continual': listed after it, it would run again "
                "for every experience"
            )

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Train the experiences in turn (or the stream), then hand the last model on."""

        def fit_continually(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            if self.config.scenario == "stream":
                return self._stream(model, task, ctx)
            return self._experiences(fit, model, task, ctx)

        return fit_continually

    # ------------------------------------------------------------------ experiences

    def _split(self, task: Task, seed: int) -> list[Experience]:
        cfg = self.config
        if cfg.scenario == "class":
            order = cfg.class_order or None
            return class_incremental(task, cfg.experiences, seed=seed, order=order)
        return domain_incremental(
            task, cfg.experiences, kind=cfg.domain, max_level=cfg.max_level, seed=seed
        )

    def _experiences(self, fit: FitFn, model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
        cfg = self.config
        start = time.perf_counter()
        stream = self._split(task, child_seed(ctx.seed, "continual_order"))
        matrix = np.full((len(stream), len(stream)), np.nan)
        buffer = ReservoirBuffer(cfg.buffer, child_seed(ctx.seed, "continual_buffer"))
        penalties: list[EWCPenalty] = []
        history: list[dict[str, float]] = []
        last: FitResult | None = None
        for t, experience in enumerate(stream):
            hooks: list[Technique] = []
            if cfg.strategy == "replay":
                rows = cfg.replay_batch or ctx.train.batch_size
                hooks.append(_Replay(buffer, rows, child_seed(ctx.seed, "replay", t)))
            if cfg.strategy == "ewc" and penalties:
                hooks.append(_Penalty(merge_penalties(penalties)))
            child = ctx.for_member(experience.name, child_seed(ctx.seed, "experience", t))
            child = dataclasses.replace(child, techniques=(*ctx.techniques, *hooks))
            last = fit(model, experience.task, child)
            model = last.model
            history += [{**r, "experience": t} for r in last.history]
            for j, other in enumerate(stream):
                matrix[t, j] = _accuracy(model, other.task, ctx.train.eval_batch_size)
            train = experience.task.train
            if cfg.strategy == "replay":
                buffer.add(train.x, train.y)
            if cfg.strategy == "ewc" and t < len(stream) - 1:
                fisher = self._fisher(model, experience.task, ctx, t)
                penalties.append(EWCPenalty(fisher, anchor_of(model), cfg.ewc_lambda))
        assert last is not None
        scores = continual_scores(matrix)
        report: dict[str, Any] = ctx.extras.setdefault(self.name, {})
        report.update(
            {
                **to_dict(cfg),
                "experiences_seen": [
                    {
                        "name": e.name,
                        "classes": list(e.classes),
                        "n_train": len(e.task.train),
                        "n_test": len(e.task.test),
                    }
                    for e in stream
                ],
                "accuracy_matrix": matrix.tolist(),
                "scores": scores,
                "pillar_metrics": {"generalization": _metrics(scores)},
                "seconds": time.perf_counter() - start,
            }
        )
        extras = {**last.extras, **ctx.extras, self.name: report}
        return dataclasses.replace(last, history=history, extras=extras)

    def _fisher(
        self, model: nn.Module, task: Task, ctx: FitContext, t: int
    ) -> dict[str, torch.Tensor]:
        """The Fisher diagonal on up to ``fisher_samples`` training rows of experience ``t``."""
        cfg, train = self.config, task.train
        gen = torch_generator(ctx.seed, "fisher", t)
        rows = torch.randperm(len(train), generator=gen)[: cfg.fisher_samples]
        x, y = index_inputs(train.x, rows), train.y[rows]
        if cfg.fisher == "sampled":
            model.eval()
            prob = predict_logits(model, x, ctx.train.eval_batch_size).softmax(1)
            y = torch.multinomial(prob, 1, generator=gen).squeeze(1)
        return fisher_diagonal(
            model, x, y, batch_size=64, empirical=cfg.fisher != "true", method="auto"
        )

    # ------------------------------------------------------------------ stream

    def _stream(self, model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
        cfg = self.config
        stream = task.splits["stream"]
        detector = (
            None
            if cfg.detector == "none"
            else make_detector(cfg.detector, cfg.detector_options, child_seed(ctx.seed, "detector"))
        )
        buffer = (
            ReservoirBuffer(cfg.buffer, child_seed(ctx.seed, "continual_buffer"))
            if cfg.strategy == "replay" or cfg.on_drift == "replay_refresh"
            else None
        )
        replay_rows = (cfg.replay_batch or cfg.chunk) if cfg.strategy == "replay" else 0
        optimizer = "adamw" if ctx.train.optimizer == "adamw" else ctx.train.optimizer
        result = prequential_train(
            model,
            stream.x,
            stream.y,
            batch_size=cfg.chunk,
            lr=ctx.train.lr,
            optimizer=optimizer,
            detector=detector,
            signal=cfg.signal,
            on_drift="none" if detector is None else cfg.on_drift,
            boost=cfg.boost,
            boost_steps=cfg.boost_steps,
            replay=buffer,
            replay_batch=replay_rows,
            seed=ctx.seed,
        )
        drifts = [int(p) for p in str(task.info.get("drift_positions", "")).split(",") if p]
        widths = [int(w) for w in str(task.info.get("drift_widths", "")).split(",") if w]
        recovery = drift_recovery(
            result.correct, drifts, window=cfg.window, tolerance=cfg.tolerance
        )
        max_delay = max([cfg.window * 5, *(4 * w for w in widths)])
        detections = detection_report(result.detections, drifts, max_delay=max_delay)
        curve = prequential_curve(result.correct, cfg.window)
        step = max(1, len(curve) // 400)
        scores = _stream_scores(result.accuracy, recovery, detections, detector is not None)
        report: dict[str, Any] = ctx.extras.setdefault(self.name, {})
        report.update(
            {
                **to_dict(cfg),
                "n_stream": input_length(stream.x),
                "prequential_accuracy": result.accuracy,
                "curve": {
                    "index": list(range(0, len(curve), step)),
                    "accuracy": curve[::step].tolist(),
                    "window": cfg.window,
                },
                "drift_positions": drifts,
                "drift_widths": widths,
                "detections": result.detections,
                "adaptations": result.adaptations,
                "detection": dict(detections),
                "recovery": [dict(r) for r in recovery],
                "scores": scores,
                "pillar_metrics": {"generalization": _metrics(scores)},
                "seconds": result.seconds,
            }
        )
        model.eval()
        return FitResult(
            model=model,
            history=[],
            best_epoch=0,
            stopped_early=False,
            train_seconds=result.seconds,
            extras=dict(ctx.extras),
        )


_LOWER_IS_BETTER = ("forgetting", "recovery", "false_alarms", "delay", "drop")


def _metrics(scores: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Scores as pillar metrics ``continual_<name>`` (NaN ones left out)."""
    out = {}
    for name, value in scores.items():
        if value is None or not np.isfinite(value):
            continue
        lower = any(word in name for word in _LOWER_IS_BETTER)
        out[f"continual_{name}"] = {"value": float(value), "higher_is_better": not lower}
    return out


def _stream_scores(
    accuracy: float, recovery: Sequence[Any], detections: Any, detecting: bool
) -> dict[str, float]:
    drops = [r["drop"] for r in recovery if r["drop"] is not None]
    times = [r["recovery_samples"] for r in recovery if r["recovery_samples"] is not None]
    scores: dict[str, float] = {
        "prequential_accuracy": accuracy,
        "mean_drift_drop": float(np.mean(drops)) if drops else float("nan"),
        "mean_recovery_samples": float(np.mean(times)) if times else float("nan"),
        "drifts_recovered": float(len(times)),
    }
    if detecting:
        scores["drifts_detected"] = float(detections["detected"])
        scores["false_alarms"] = float(detections["false_alarms"])
        delay = detections["mean_delay"]
        scores["mean_detection_delay"] = float("nan") if delay is None else float(delay)
    return scores


def _divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(2, n + 1) if n % d == 0)
