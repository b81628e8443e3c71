"""Forward functions for attribution: models taking a modality dict, and text models whose
token embeddings are attributed instead of their (discrete) token ids."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["DictForward", "EmbeddingForward", "find_embedding"]


def find_embedding(model: nn.Module) -> nn.Embedding:
    """The first ``nn.Embedding`` of ``model`` (the token embedding of a text model).

    Raises:
        ValueError: the model has none.
    """
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module
    raise ValueError(f"{type(model).__name__} has no nn.Embedding to attribute text inputs in")


class DictForward:
    """``forward(*tensors) = model({key: tensor})`` for a model taking a modality dict."""

    def __init__(self, model: nn.Module, keys: Sequence[str]) -> None:
        self.model = model
        self.keys = tuple(keys)

    def __call__(self, *tensors: Tensor) -> Tensor:
        out: Tensor = self.model(dict(zip(self.keys, tensors, strict=True)))
        return out


class EmbeddingForward:
    """``forward(embeddings, *ids) = model(ids)`` with the embedding layer's output replaced.

    Attributing ``embeddings`` (B, L, D) gives attributions in embedding space, as captum's
    ``LayerIntegratedGradients`` on the embedding layer does; summing over D gives one score per
    token. The ids still drive everything else (e.g. a Transformer's padding mask).

    Args:
        model: a text model containing an ``nn.Embedding``.
        keys: input names when the model takes a dict of token-id tensors, else None.
    """

    def __init__(self, model: nn.Module, keys: Sequence[str] | None = None) -> None:
        self.model = model
        self.keys = None if keys is None else tuple(keys)
        self.embedding = find_embedding(model)

    def _model(self, ids: Sequence[Tensor]) -> Tensor:
        out: Tensor = self.model(
            ids[0] if self.keys is None else dict(zip(self.keys, ids, strict=True))
        )
        return out

    def __call__(self, embeddings: Tensor, *ids: Tensor) -> Tensor:
        handle = self.embedding.register_forward_hook(lambda _m, _i, _o: embeddings)
        try:
            return self._model(ids)
        finally:
            handle.remove()

    @torch.no_grad()
    def embed(self, *ids: Tensor) -> Tensor:
        """(B, L, D) output of the embedding layer when the model reads token ids ``ids``."""
        seen: list[Tensor] = []
        handle = self.embedding.register_forward_hook(lambda _m, _i, out: seen.append(out))
        try:
            self._model(ids)
        finally:
            handle.remove()
        return seen[0].detach()
