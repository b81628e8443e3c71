"""Robustness: does the model hold under natural corruptions and adversarial attacks?

On a seeded subsample of the test split this pillar reports the accuracy under every natural
corruption of the input modality at severities 1..5 (:mod:`.corruptions`), the accuracy under
FGSM, PGD and AutoAttack-style APGD-CE / APGD-DLR at each L∞ and L2 eps with the worst case per
sample over all attacks (:mod:`fivefold.attacks.gradient`), and for text the accuracy under a
greedy edit attack (:mod:`fivefold.attacks.text`). Failed gradient-masking checks become notes.
A task with two or more inputs also gets missing- and noisy-modality slices: the accuracy with
one input at a time zeroed, set to its training mean or noised (:mod:`.modality`).

Eps are in units of the input range (high - low) for bounded inputs (images, series: 0.1 is a
tenth of black-to-white) and absolute for unbounded ones, which for tabular data are
standardised features (0.1 is a tenth of a numeric feature's training standard deviation;
one-hot columns never move); the same eps applies to every input of a multi-input task.

Reference: Hendrycks & Dietterich, ICLR 2019 (corruptions); Madry et al., ICLR 2018 (PGD);
Croce & Hein, ICML 2020 (AutoAttack); Carlini et al., "On Evaluating Adversarial Robustness",
2019 (sanity checks).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

import torch

from fivefold.attacks.gradient import Norm
from fivefold.attacks.text import text_edit_attack
from fivefold.data.task import Split, Task
from fivefold.errors import ConfigError
from fivefold.pillars.base import PILLARS, Metric, Pillar, PillarResult, Subject
from fivefold.pillars.robustness.evaluate import (
    AttackSettings,
    Row,
    accuracy,
    adversarial_rows,
    available_corruptions,
    corruption_rows,
    has_raw_text,
    sanity_notes,
)
from fivefold.pillars.robustness.modality import (
    ModalitySettings,
    modality_metrics,
    modality_rows,
)
from fivefold.registry import did_you_mean
from fivefold.schema import option
from fivefold.seeding import child_seed, torch_generator

__all__ = ["RobustnessConfig", "RobustnessPillar", "robustness_metrics"]


@dataclass(frozen=True)
class RobustnessConfig:
    """Options of the robustness pillar."""

    corruptions: tuple[str, ...] | None = option(
        None, help="corruption names to run; default: all that fit the inputs; [] skips them"
    )
    severities: tuple[int, ...] = option(
        (1, 2, 3, 4, 5), help="corruption severities", min=1, max=5
    )
    eps_linf: tuple[float, ...] = option(
        (0.05, 0.1, 0.2, 0.3),
        help="L∞ radii; units per modality: images and series (bounded) — a fraction of the "
        "input range (0.1 = a tenth of black-to-white); tabular — standardised-feature units "
        "(0.1 = a tenth of a numeric feature's training std; one-hot columns never move); "
        "text — unused (the edit attack); [] skips",
        min=0.0,
        exclusive_min=True,
    )
    eps_l2: tuple[float, ...] = option(
        (0.5, 1.0, 2.0),
        help="L2 radii over all features of a sample (same units as eps_linf); [] skips",
        min=0.0,
        exclusive_min=True,
    )
    pgd_steps: int = option(10, help="PGD iterations", min=1)
    pgd_step_size: float = option(
        2.5, help="PGD step length as a multiple of eps / pgd_steps", min=0.0, exclusive_min=True
    )
    random_start: bool = option(True, help="PGD starts at a random point of the eps-ball")
    autoattack: bool = option(True, help="also run APGD-CE and APGD-DLR (AutoAttack-style)")
    apgd_steps: int = option(10, help="APGD iterations (AutoAttack uses 100)", min=1)
    large_eps: float | None = option(
        None,
        help="L∞ eps of the 'accuracy ~0 at a huge eps' check; default 1.0 (whole range) for "
        "bounded inputs, 10.0 for unbounded ones; 0 skips the check",
        min=0.0,
    )
    max_attack_samples: int = option(500, help="test samples attacked", min=1)
    max_corruption_samples: int = option(1000, help="test samples corrupted", min=1)
    text_budget: int = option(3, help="largest number of edits of the text attack", min=0)
    text_candidates: int = option(8, help="random edits tried per text and round", min=1)
    attack_batch_size: int = option(256, help="samples attacked at once", min=1)
    modalities: bool = option(
        True,
        help="tasks with several inputs: accuracy with one input at a time missing (zeroed; "
        "padding for text), set to its training mean, or noised",
    )
    modality_noise: tuple[float, ...] = option(
        (0.5, 1.0),
        help="noisy-modality gaussian std in units of the input's training std (per feature "
        "or channel); [] skips",
        min=0.0,
        exclusive_min=True,
    )
    modality_edit_rates: tuple[float, ...] = option(
        (0.2, 0.5),
        help="noisy-modality share of a text input's tokens replaced by random training "
        "tokens; [] skips",
        min=0.0,
        max=1.0,
        exclusive_min=True,
    )


def _subsample(split: Split, n: int, seed: int) -> Split:
    """At most ``n`` rows of ``split``: a seeded random subset in the original order; smaller
    ``n`` give nested subsets, so the attacked samples are among the corrupted ones."""
    if len(split) <= n:
        return split
    gen = torch_generator(seed, "robustness", "subsample")
    return split.subset(torch.randperm(len(split), generator=gen)[:n].sort().values)


def _check_corruptions(config: RobustnessConfig, allowed: list[str]) -> list[str]:
    if config.corruptions is None:
        return allowed
    for name in config.corruptions:
        if name not in allowed:
            raise ConfigError(
                f"pillars.robustness.corruptions: {name!r} does not fit these inputs"
                f"{did_you_mean(name, allowed)}; allowed: {', '.join(allowed) or 'none'}"
            )
    return list(config.corruptions)


def _settings(config: RobustnessConfig) -> AttackSettings:
    return AttackSettings(
        steps=config.pgd_steps,
        step_size=config.pgd_step_size,
        random_start=config.random_start,
        autoattack=config.autoattack,
        apgd_steps=config.apgd_steps,
        batch=config.attack_batch_size,
    )


def _large_eps(config: RobustnessConfig, task: Task) -> float:
    if config.large_eps is not None:
        return config.large_eps
    bounded = all(i.bounds is not None for i in task.inputs.values() if i.kind != "text")
    return 1.0 if bounded else 10.0


def robustness_metrics(
    clean: float, corruptions: list[Row], adversarial: list[Row], text: list[Row]
) -> dict[str, Metric]:
    """All metrics from the tables (every metric is an accuracy: higher is better)."""
    m = {"clean_accuracy": clean}
    if corruptions:
        mean = statistics.fmean(r["accuracy"] for r in corruptions)
        m["mean_corruption_accuracy"] = mean
        m["relative_corruption_accuracy"] = mean / clean if clean > 0 else 0.0
        for name in dict.fromkeys(r["corruption"] for r in corruptions):
            rows = [r["accuracy"] for r in corruptions if r["corruption"] == name]
            m[f"corruption_accuracy@{name}"] = statistics.fmean(rows)
        if "accuracy_unadapted" in corruptions[0]:
            before = statistics.fmean(r["accuracy_unadapted"] for r in corruptions)
            m["mean_corruption_accuracy_unadapted"] = before
            m["corruption_adaptation_gain"] = mean - before
    for r in adversarial:
        suffix = "" if r["norm"] == "linf" else "_l2"
        for key in (k for k in r if k not in ("norm", "eps", "clean")):
            name = "autoattack" if key == "worst_case" else key
            name = f"{name}_linf" if name == "pgd" and suffix == "" else name
            m[f"{name}{suffix}_accuracy@{r['eps']:g}"] = r[key]
    linf = [r["worst_case"] for r in adversarial if r["norm"] == "linf"]
    if linf:
        m["mean_autoattack_accuracy"] = statistics.fmean(linf)
    for r in text:
        m[f"text_attack_accuracy@{r['edits']}"] = r["accuracy"]
    return {k: Metric(float(v), higher_is_better=True) for k, v in m.items()}


def _headline(metrics: dict[str, Metric]) -> str:
    for name in ("mean_corruption_accuracy", "mean_autoattack_accuracy"):
        if name in metrics:
            return name
    return "clean_accuracy"


def _coverage_notes(task: Task, split: Split, cfg: RobustnessConfig) -> list[str]:
    """Caveats about what the evaluation could not cover on these inputs."""
    kinds = {info.kind for info in task.inputs.values()}
    notes = []
    if "text" in kinds and not has_raw_text(task, split):
        notes.append(
            "text inputs without raw texts or a text_encoder: text corruptions and the edit "
            "attack were skipped"
        )
    attacked = bool(cfg.eps_linf or cfg.eps_l2)
    if attacked and kinds - {"text"} and cfg.autoattack and task.n_classes < 3:
        notes.append("APGD-DLR needs 3 or more classes: the worst case omits it")
    if attacked and any(info.categorical for info in task.inputs.values()):
        notes.append("gradient attacks perturb numeric columns only; one-hot columns stay exact")
    return notes


class RobustnessPillar(Pillar):
    """Corruption and adversarial accuracy on the test split (see the module docstring)."""

    Config = RobustnessConfig
    config: RobustnessConfig

    def evaluate(self, subject: Subject, task: Task, seed: int) -> PillarResult:
        cfg, test = self.config, task.test
        small = _subsample(test, cfg.max_corruption_samples, seed)
        names = _check_corruptions(cfg, available_corruptions(task, small))
        corrupted = corruption_rows(subject, small, task, names, cfg.severities, seed=seed)
        clean = accuracy(subject, small.x, small.y)
        attacked = _subsample(test, cfg.max_attack_samples, seed)
        adversarial, notes = self._adversarial(subject, task, attacked, seed)
        text = self._text(subject, task, attacked, seed)
        metrics = robustness_metrics(clean, corrupted, adversarial, text)
        tables = {"corruptions": corrupted, "adversarial": adversarial, "text_attack": text}
        notes = _coverage_notes(task, small, cfg) + notes
        if subject.unadapted() is not None:
            notes.append(
                f"corruption accuracies are after {subject.adaptation}, each corrupted split "
                "adapted on from the trained weights (*_unadapted: without); attacks and the "
                "text edit attack target the unadapted model"
            )
        if cfg.modalities and task.multimodal:
            settings = ModalitySettings(cfg.modality_noise, cfg.modality_edit_rates)
            rows, more = modality_rows(subject, small, task, settings, clean=clean, seed=seed)
            metrics |= {k: Metric(v, True) for k, v in modality_metrics(rows).items()}
            tables["modalities"], notes = rows, notes + more
        return PillarResult(_headline(metrics), metrics, tables, notes)

    def _adversarial(
        self, subject: Subject, task: Task, split: Split, seed: int
    ) -> tuple[list[Row], list[str]]:
        cfg, settings = self.config, _settings(self.config)
        if not any(i.kind != "text" for i in task.inputs.values()):
            return [], []
        model = subject.differentiable()
        rows: list[Row] = []
        notes: list[str] = []
        if subject.combiner.note and len(subject.members) > 1:
            notes.append(f"{subject.combiner.note}; the adversarial accuracies are that mean's")
        norms: tuple[tuple[Norm, tuple[float, ...]], ...] = (
            ("linf", cfg.eps_linf),
            ("l2", cfg.eps_l2),
        )
        for norm, eps in norms:
            found = adversarial_rows(model, split, task, eps, norm, settings=settings, seed=seed)
            rows += found
            notes += sanity_notes(found, None)
        large = _large_eps(cfg, task)
        if large > 0:
            quick = replace(settings, autoattack=False)
            check = adversarial_rows(
                model, split, task, (large,), "linf", settings=quick, seed=seed
            )
            notes += sanity_notes([], check[0])
        return rows, notes

    def _text(self, subject: Subject, task: Task, split: Split, seed: int) -> list[Row]:
        cfg = self.config
        if not has_raw_text(task, split) or task.text_encoder is None or cfg.text_budget == 0:
            return []
        subject = subject.unadapted() or subject  # a fixed target, as for gradient attacks
        key = next(k for k, info in task.inputs.items() if info.kind == "text")
        accs = text_edit_attack(
            subject,
            task.text_encoder,
            split.texts or (),
            split.y,
            budget=cfg.text_budget,
            candidates=cfg.text_candidates,
            seed=child_seed(seed, "text_attack"),
            context=split.x if isinstance(split.x, dict) else None,
            key=key,
        )
        return [{"edits": b, "accuracy": a} for b, a in enumerate(accs) if b > 0]


PILLARS.register(
    "robustness",
    help="accuracy under natural corruptions x severity, FGSM/PGD/APGD (AutoAttack-style) "
    "at stated eps with the per-sample worst case, and a greedy text edit attack",
)(RobustnessPillar)
