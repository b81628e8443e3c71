"""Multi-layer perceptron over the flattened inputs (tabular, images, sequences)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from torch import nn

from fivefold.data.task import Task
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.dropout import Dropout
from fivefold.models.inputs import Encoder, fuse_inputs
from fivefold.schema import option

__all__ = ["MLPConfig", "build_mlp"]


@dataclass(frozen=True)
class MLPConfig:
    """Options of the ``mlp`` model."""

    hidden: tuple[int, ...] = option(
        (256, 256), help="width of each hidden layer; [] gives a linear model", min=1
    )
    dropout: float = option(0.1, help="dropout after each hidden layer", min=0.0, max=0.9)
    activation: Literal["gelu", "relu"] = option("relu", help="hidden-layer non-linearity")
    norm: Literal["none", "batch", "layer"] = option(
        "none", help="normalisation after each hidden linear layer"
    )


def _block(d_in: int, d_out: int, config: MLPConfig) -> list[nn.Module]:
    """Linear → norm → activation → dropout."""
    layers: list[nn.Module] = [nn.Linear(d_in, d_out)]
    if config.norm == "batch":
        layers.append(nn.BatchNorm1d(d_out))
    elif config.norm == "layer":
        layers.append(nn.LayerNorm(d_out))
    layers.append(nn.GELU() if config.activation == "gelu" else nn.ReLU())
    if config.dropout > 0:
        layers.append(Dropout(config.dropout))
    return layers


def build_mlp(config: MLPConfig, task: Task) -> Classifier:
    """An MLP whose input width is the number of input features after flattening.

    Args:
        config: the model options.
        task: gives the input sizes and the number of classes.

    Returns:
        a Classifier whose encoder maps inputs to (B, hidden[-1]) features
        (or to the (B, F) flattened inputs when ``hidden`` is empty).
    """
    adapter, info = fuse_inputs(task, flatten=True)  # inputs → (B, F)
    widths = [info.shape[0], *config.hidden]
    layers = [m for d_in, d_out in pairwise(widths) for m in _block(d_in, d_out, config)]
    body = nn.Sequential(*layers) if layers else nn.Identity()
    return Classifier(Encoder(adapter, body), widths[-1], task.n_classes)


MODELS.register("mlp", help="multi-layer perceptron over the flattened inputs")(
    ModelPlugin(MLPConfig, build_mlp, frozenset({"image", "sequence", "tabular"}))
)
