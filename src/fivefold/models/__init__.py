"""fivefold.models."""

from fivefold.models import cnn, minilm, mlp, rnn, text, transformer  # noqa: F401  (registration)
from fivefold.models.base import MODELS, Classifier, ModelSpec, build_model, prepare_task

__all__ = ["MODELS", "Classifier", "ModelSpec", "build_model", "prepare_task"]
