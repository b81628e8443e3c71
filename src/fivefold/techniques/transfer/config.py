"""Options of the ``transfer`` technique."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fivefold.data.config import DataConfig
from fivefold.schema import option

__all__ = ["Strategy", "TransferConfig"]

Strategy = Literal["full", "linear_probe", "gradual_unfreeze"]


@dataclass(frozen=True)
class TransferConfig:
    """Where the encoder's weights come from and how the target task then trains them."""

    source: Literal["pretrained"] | DataConfig = option(  # noqa: RUF009 - immutable default
        "pretrained",
        help="'pretrained': the model's own pretrained weights (e.g. minilm); or a data table, "
        'e.g. {dataset = "fashion_mnist"}: train the same model on that data first (its own '
        "head) and start from its encoder; the model must take its inputs (text is re-encoded "
        "with the target's tokenizer)",
    )
    checkpoint: str | None = option(
        None,
        help="a .safetensors (or torch.save state dict) file of another run: load its encoder "
        "tensors (names and shapes must match); leave source = 'pretrained' with it",
    )
    strict: bool = option(
        True,
        help="checkpoint: fail unless every encoder tensor is found (false: load the ones whose "
        "names match, still failing on a shape mismatch)",
    )
    strategy: Literal["full", "linear_probe", "gradual_unfreeze"] = option(
        "full",
        help="full: train everything; linear_probe: freeze the encoder, train the head; "
        "gradual_unfreeze: head first, then one more encoder block from the top every "
        "`unfreeze_every` epochs (ULMFiT)",
    )
    unfreeze_every: int = option(
        1, help="gradual_unfreeze: epochs between unfreezing two encoder blocks", min=1
    )
    lr_decay: float = option(
        1.0,
        help="layer-wise learning-rate decay: a block at depth d from the top (head = 0) trains "
        "at lr * lr_decay**d; 1.0 turns it off; 0.65-0.95 is usual for transformers",
        min=0.0,
        max=1.0,
        exclusive_min=True,
    )
    head_lr_scale: float = option(
        1.0,
        help="multiplies the head's learning rate (a linear probe on a fine-tuning lr such as "
        "5e-5 wants 100-200, a head rate of 5e-3 to 1e-2)",
        min=0.0,
        exclusive_min=True,
    )
    frozen_eval: bool = option(
        True,
        help="run frozen encoder blocks in evaluation mode (no dropout, batch-norm statistics "
        "kept), so a linear probe sees fixed features",
    )
    source_epochs: int = option(
        10,
        help="source data: training epochs on the source (fixed, not train.epochs, so that "
        "label-fraction refits, which train longer, reuse the same source run)",
        min=1,
    )
    source_lr: float | None = option(
        None,
        help="source data: peak learning rate on the source (none: train.lr)",
        min=0.0,
        exclusive_min=True,
    )
    source_seed: int = option(
        0,
        help="source data: seed of the source run (head init, batch order); fixed so that all "
        "trials starting from the same weights share one cached source encoder",
    )

    def __post_init__(self) -> None:
        if self.checkpoint is not None and self.source != "pretrained":
            raise ValueError(
                "give either checkpoint or a source data table, not both; remove one of them"
            )
        if self.checkpoint is not None and not self.checkpoint.strip():
            raise ValueError("checkpoint: empty path; give the path of a .safetensors file")
