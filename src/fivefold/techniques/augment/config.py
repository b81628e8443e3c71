"""The options of the ``augment`` technique and the default policy of each modality."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from fivefold.schema import option

__all__ = [
    "DEFAULT_OPS",
    "DEFAULT_STRENGTH",
    "WORDPIECE_TEXT_OPS",
    "AugmentConfig",
    "ImageOpName",
    "SeriesOpName",
    "TabularOpName",
    "TextOpName",
]

ImageOpName = Literal[
    "translate",
    "rotate",
    "affine",
    "hflip",
    "vflip",
    "brightness",
    "contrast",
    "pixel_noise",
    "erase",
    "blur",
]
SeriesOpName = Literal[
    "jitter", "scaling", "magnitude_warp", "time_warp", "window_slice", "permute"
]
TabularOpName = Literal["gaussian_noise", "feature_dropout", "smote"]
TextOpName = Literal[
    "word_delete", "word_swap", "word_insert", "word_replace", "token_mask", "char_typo"
]

DEFAULT_STRENGTH: dict[str, float] = {
    # image, in units of the [0, 1] input range unless said otherwise
    "translate": 0.1,  # fraction of the width/height
    "rotate": 10.0,  # degrees
    "affine": 0.1,  # scale 1 ± s, shear s × 45 degrees
    "hflip": 0.0,
    "vflip": 0.0,
    "brightness": 0.2,  # added level
    "contrast": 0.3,  # factor 1 ± s
    "pixel_noise": 0.05,  # gaussian std
    "erase": 0.2,  # largest erased area fraction
    "blur": 1.0,  # largest sigma, pixels
    # series
    "jitter": 0.05,  # noise std, fraction of each channel's std
    "scaling": 0.1,  # factor std
    "magnitude_warp": 0.2,  # knot std of the smooth curve
    "time_warp": 0.2,  # knot std of the speed curve
    "window_slice": 0.1,  # share of the series cropped away
    "permute": 4.0,  # number of segments
    # tabular
    "gaussian_noise": 0.1,  # std, fraction of the column's training std
    "feature_dropout": 0.1,  # chance a numeric value becomes its column mean
    "smote": 1.0,  # largest interpolation step towards the neighbour
    # text, per-token chances
    "word_delete": 0.1,
    "word_swap": 0.1,
    "word_insert": 0.05,
    "word_replace": 0.1,
    "token_mask": 0.1,
    "char_typo": 0.1,
}

DEFAULT_OPS: dict[str, tuple[str, ...]] = {
    "image": ("translate", "rotate", "brightness", "contrast", "pixel_noise", "erase"),
    "sequence": ("jitter", "scaling", "magnitude_warp", "time_warp", "window_slice"),
    "tabular": ("gaussian_noise", "feature_dropout", "smote"),
    "text": ("word_delete", "word_swap", "word_replace", "char_typo"),
}
WORDPIECE_TEXT_OPS: tuple[str, ...] = ("token_mask", "word_delete")
"""Default text ops for a backbone with its own sub-word tokenizer (no character typos)."""


@dataclass(frozen=True)
class AugmentConfig:
    """Options of the ``augment`` technique."""

    image_ops: tuple[ImageOpName, ...] | None = option(
        None,
        help="image ops, applied in this order; none: translate, rotate, brightness, contrast, "
        "pixel_noise, erase (flips only when listed)",
    )
    series_ops: tuple[SeriesOpName, ...] | None = option(
        None,
        help="series ops; none: jitter, scaling, magnitude_warp, time_warp, window_slice",
    )
    tabular_ops: tuple[TabularOpName, ...] | None = option(
        None, help="tabular ops; none: gaussian_noise, feature_dropout, smote"
    )
    text_ops: tuple[TextOpName, ...] | None = option(
        None,
        help="text ops; none: word_delete, word_swap, word_replace, char_typo for a word "
        "vocabulary, token_mask, word_delete for a sub-word backbone (minilm)",
    )
    p: float = option(0.5, help="chance that an op transforms a sample", min=0.0, max=1.0)
    prob: Mapping[str, float] | None = option(
        None, help="per-op chance overriding p, e.g. {rotate = 0.3}", min=0.0, max=1.0
    )
    strength: Mapping[str, float] | None = option(
        None, help="per-op strength overriding the default, e.g. {rotate = 20.0}", min=0.0
    )
    randaugment_n: int = option(
        0, help="images: apply this many ops drawn per sample from image_ops (0: off)", min=0
    )
    randaugment_m: float = option(
        5.0, help="images: RandAugment magnitude, 10 is the strongest", min=0.0, max=10.0
    )
    mixup_alpha: float = option(
        0.0, help="mixup: λ ~ Beta(α, α) per batch (0: off); float inputs only", min=0.0
    )
    cutmix_alpha: float = option(
        0.0, help="cutmix (image boxes, series segments): Beta(α, α) (0: off)", min=0.0
    )
    mix_prob: float = option(
        1.0, help="chance a batch is mixed when mixup or cutmix is on", min=0.0, max=1.0
    )
    smote_k: int = option(5, help="SMOTE: neighbours to interpolate towards", min=1)

    def __post_init__(self) -> None:
        for name, table in (("prob", self.prob), ("strength", self.strength)):
            unknown = sorted(set(table or {}) - set(DEFAULT_STRENGTH))
            if unknown:
                raise ValueError(
                    f"{name}: unknown op {unknown[0]!r}; ops: {', '.join(DEFAULT_STRENGTH)}"
                )
        for op, value in (self.prob or {}).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"prob.{op}: {value!r} is out of range; allowed: [0, 1]")
        for op, value in (self.strength or {}).items():
            if value < 0.0:
                raise ValueError(f"strength.{op}: {value!r} is out of range; allowed: [0, inf]")

    def op_strength(self, op: str) -> float:
        """The strength of ``op``: the override if given, else its default."""
        return (self.strength or {}).get(op, DEFAULT_STRENGTH[op])

    def op_prob(self, op: str) -> float:
        """The chance that ``op`` transforms a sample."""
        return (self.prob or {}).get(op, self.p)
