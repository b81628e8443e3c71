"""Model families (mlp, cnn, gru, lstm, transformer, text, minilm, fusion) and how to build them.

Importing this package registers every family in :data:`MODELS`.
"""

from fivefold.models import (  # noqa: F401  (registration)
    cnn,
    fusion,
    minilm,
    mlp,
    rnn,
    text,
    transformer,
)
from fivefold.models.base import MODELS, Classifier, ModelSpec, build_model, prepare_task
from fivefold.models.defaults import default_model_name

__all__ = ["MODELS", "Classifier", "ModelSpec", "build_model", "default_model_name", "prepare_task"]
