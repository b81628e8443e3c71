"""Which model to use when the config names none."""

from __future__ import annotations

from fivefold.data.task import Modality, Task
from fivefold.errors import ConfigError
from fivefold.models.inputs import fuse_inputs

__all__ = ["DEFAULT_MODELS", "default_model_name"]

DEFAULT_MODELS: dict[Modality, str] = {
    "image": "cnn",
    "sequence": "cnn",
    "tabular": "mlp",
    "text": "text",
}
"""The default model per (fused) input kind."""

SHORT_SEQUENCE = 32
"""Sequences shorter than this default to the MLP: a 1-D CNN's global pooling throws away the
time position that carries the signal in short fixed-length series (e.g. 24 hourly readings),
where an MLP is the stronger baseline (Wang, Yan & Oates 2017, UCR results)."""


def default_model_name(task: Task) -> str:
    """The default model for ``task``'s inputs, judged by the kind they fuse into.

    A multi-input task whose inputs fuse only by flattening (e.g. an image beside a table)
    gets the MLP, and so do sequences shorter than :data:`SHORT_SEQUENCE` steps. Inputs that
    cannot be joined into one tensor at all (text beside other kinds) get the ``fusion`` model
    (early fusion of each input's default encoder).

    Raises:
        ConfigError: a single input that no model reads (text without a vocabulary).
    """
    try:
        _, info = fuse_inputs(task)
    except ConfigError:
        if len(task.inputs) > 1:
            return "fusion"
        raise
    if info.kind == "sequence" and info.shape[-1] < SHORT_SEQUENCE:
        return "mlp"
    return DEFAULT_MODELS[info.kind]
