"""The ``augment`` technique: seeded, batched data augmentation for every modality, plus mixing.

Images (kornia: translation, rotation, affine, optional flips, brightness, contrast, noise,
erasing, blur, or a RandAugment policy), series (jitter, scaling, magnitude and time warp,
window slicing, segment permutation), tabular rows (noise and dropout on numeric columns,
SMOTE for minority classes), text token ids (word deletion, swap, insertion, replacement,
character typos, token masking) and mixup/CutMix with soft targets. Every op keeps shape, dtype
and the input bounds; all randomness comes from a per-step stream derived from the trial seed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from fivefold.data.task import Task
from fivefold.schema import to_dict
from fivefold.seeding import child_seed, torch_generator
from fivefold.techniques.augment.config import AugmentConfig
from fivefold.techniques.augment.policy import Plan, augment_batch, plan_from_batch
from fivefold.techniques.augment.policy import make_plan as make_plan
from fivefold.techniques.base import TECHNIQUES
from fivefold.training.hooks import Batch, FitContext, FitFn, FitResult, Technique

__all__ = ["Augment", "AugmentConfig", "Plan", "make_plan"]


@TECHNIQUES.register("augment", help="data augmentation for every modality, mixup and cutmix")
class Augment(Technique):
    """Augments every training batch with a per-modality policy, optionally mixing samples.

    A plain ``technique = "augment"`` uses the default policy of each input's modality (images:
    small translations and rotations, brightness, contrast, noise, erasing, never flips).
    The task is read once in :meth:`wrap_fit`; :meth:`adapt_batch` then transforms each batch
    with a stream seeded by ``(seed, "augment", step)``, so a trial is reproducible and the
    global random stream is left as it was.

    Reference: Shorten & Khoshgoftaar, "A survey on Image Data Augmentation for Deep Learning",
    J. Big Data 2019; Cubuk et al., "RandAugment", CVPR-W 2020; Zhong et al., "Random Erasing
    Data Augmentation", AAAI 2020; Um et al., ICMI 2017 (series); Chawla et al., "SMOTE", JAIR
    2002; Wei & Zou, "EDA", EMNLP 2019; Zhang et al., "mixup", ICLR 2018; Yun et al., "CutMix",
    ICCV 2019.
    """

    batch_only = True  # batches are transformed without the model
    Config: ClassVar[type[Any]] = AugmentConfig
    quick: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str, config: AugmentConfig) -> None:
        super().__init__(name, config)
        self.plan_: Plan | None = None

    def wrap_fit(self, fit: FitFn) -> FitFn:
        """Read the task (modalities, bounds, one-hot groups, vocabulary) before training."""

        def fit_with_plan(model: nn.Module, task: Task, ctx: FitContext) -> FitResult:
            self.plan_ = make_plan(self.config, task, child_seed(ctx.seed, self.name))
            ctx.extras[self.name] = {
                "ops": {key: list(ops) for key, ops in self.plan_.ops.items()},
                "config": to_dict(self.config),
            }
            return fit(model, task, ctx)

        return fit_with_plan

    def adapt_batch(self, batch: Batch, model: nn.Module, ctx: FitContext) -> Batch:
        """The augmented batch (new tensors; the batch given is not modified)."""
        if self.plan_ is None:  # a loop that skipped wrap_fit: image and series ops only
            self.plan_ = plan_from_batch(self.config, batch.x)
        gen = torch_generator(ctx.seed, self.name, ctx.step)
        return augment_batch(batch, self.plan_, self.config, gen)
