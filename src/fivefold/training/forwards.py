"""Forward functions for attribution: models taking a modality dict, text models whose token
embeddings are attributed instead of their (discrete) token ids, and a faster inference copy."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["DictForward", "EmbeddingForward", "find_embedding", "inference_copy"]


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


def _fold_batch_norms(seq: nn.Sequential) -> None:
    """Fold each eval-mode batch norm that directly follows a convolution into it, in place."""
    names = list(seq._modules)
    for first, second in itertools.pairwise(names):
        conv, norm = seq._modules[first], seq._modules[second]
        if not isinstance(conv, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            continue
        if isinstance(norm, nn.BatchNorm1d | nn.BatchNorm2d | nn.BatchNorm3d) and (
            norm.running_mean is not None and norm.running_var is not None
        ):
            seq._modules[first] = fuse_conv_bn_eval(conv, norm)
            seq._modules[second] = nn.Identity()


def inference_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode, tuned for many batched gradient passes.

    Batch norms that directly follow a convolution inside an ``nn.Sequential`` are folded into
    it, and models with 2-D convolutions use the channels-last layout (faster convolutions and
    pooling on CPU). The copy computes the same function as ``model`` up to float rounding, so
    its attributions are the model's; ``model`` itself is not touched.
    """
    clone = copy.deepcopy(model).eval()
    for module in list(clone.modules()):
        if isinstance(module, nn.Sequential):
            _fold_batch_norms(module)
    if any(isinstance(m, nn.Conv2d) for m in clone.modules()):
        clone = clone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return clone
