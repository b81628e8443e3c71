"""Multimodal fusion models: one encoder per input, joined early, late, by attention or a gate.

A fusion model is a :class:`~fivefold.models.base.Classifier` like every other fivefold model:
its ``encoder`` (a :class:`FusionEncoder`) maps the task's ``{input: tensor}`` dict to (B, D)
features and its ``head`` is ``nn.Linear(D, C)``, so OOD scores, transfer and SSL work on it
unchanged. The encoder holds, for each input ``k``, the encoder of a registered model built on
a one-input view of the task (its :class:`~fivefold.models.inputs.InputAdapter` reads ``x[k]``
from the full dict), and one fusion block:

- ``early``: the per-input features (B, D_k) are concatenated and passed through an MLP block
  (Linear → ReLU → Dropout), (B, width).
- ``late``: one linear head per input, logits combined with weights ``w`` (the mean, or a
  learned softmax). To keep ``encoder + Linear head``, the encoder returns
  ``[w_1 f_1, w_1, w_2 f_2, w_2, ...]`` (B, sum (D_k + 1)) and the head is the block of the
  per-input heads: with head weight ``[W_1 | u_1 | W_2 | u_2 | ...]`` and bias ``b``,
  ``head(encoder(x)) = sum_k w_k (W_k f_k + u_k + b)``, the weighted sum of the per-input
  logits ``l_k = W_k f_k + (u_k + b)`` (exact, since the weights sum to 1).
- ``attention`` (intermediate fusion): each input becomes tokens (per time step, spatial
  position or word where its encoder exposes them, else its pooled features as one token),
  projected to ``width`` with a learned modality embedding; the tokens of each input attend
  to the tokens of all other inputs (pre-norm multi-head cross-attention and a feed-forward
  block, as in the Multimodal Transformer), are mean-pooled over their real tokens, and the
  pooled vectors are concatenated, (B, M x width).
- ``gated``: the gated multimodal unit, ``h_k = tanh(W_k f_k)``, gates ``z = softmax over the
  inputs of W_z [f_1; ...; f_M]`` for every hidden unit, ``h = sum_k z_k * h_k``, (B, width).

Modality dropout (training mode only) drops each input of each sample with probability ``p``,
never all of them (:class:`ModalityDropout`): the dropped input's features are zeroed, its
tokens are hidden from attention, its late-fusion weight and its gates are 0 and the others are
renormalised over the kept inputs. The draws come from the model's own ``torch.Generator``.

Reference: Baltrusaitis, Ahuja & Morency, "Multimodal machine learning: a survey and taxonomy",
TPAMI 2019 (early, late and intermediate fusion); Arevalo et al., "Gated multimodal units for
information fusion", ICLR Workshop 2017; Tsai et al., "Multimodal transformer for unaligned
multimodal language sequences", ACL 2019; Neverova et al., "ModDrop: adaptive multi-modal
gesture recognition", TPAMI 2016 (modality dropout).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from fivefold.data.task import Inputs, Modality, Task, input_length
from fivefold.errors import ConfigError, did_you_mean
from fivefold.models.base import MODELS, Classifier, ModelPlugin
from fivefold.models.cnn import ConvNet1d, ConvNet2d
from fivefold.models.defaults import default_model_name
from fivefold.models.inputs import Encoder
from fivefold.models.rnn import RecurrentEncoder
from fivefold.models.text import BagOfWords, TextCNN
from fivefold.models.transformer import TransformerBody
from fivefold.schema import build, option
from fivefold.seeding import torch_generator

__all__ = [
    "KINDS",
    "METHODS",
    "AttentionFusion",
    "EarlyFusion",
    "FusionClassifier",
    "FusionConfig",
    "FusionEncoder",
    "FusionOptions",
    "GatedFusion",
    "LateFusion",
    "ModalityDropout",
    "build_fusion",
    "build_fusion_model",
    "encoder_names",
    "kept_count_probs",
    "modality_tokens",
]

Method = Literal["early", "late", "attention", "gated"]
METHODS: tuple[Method, ...] = ("early", "late", "attention", "gated")
KINDS: tuple[Modality, ...] = ("image", "sequence", "tabular", "text")
Tokens = tuple[torch.Tensor, torch.Tensor]
"""(B, N, D) tokens and their (B, N) mask, True for a real (non-padding) token."""


@dataclass(frozen=True)
class FusionOptions:
    """How a fusion model is built (the ``fusion`` technique's options, validated there).

    Attributes:
        method: "early", "late", "attention" or "gated" (see the module docstring).
        encoders: model name per input, keyed by input name or by kind ("sequence"); an input
            named in neither gets the default model of its kind.
        width: early: MLP width; gated: unit width; attention: token width.
        heads: attention heads (must divide ``width``).
        dropout: dropout in the early MLP block and in the attention block.
        late_weights: "learned" (softmax of learned logits, starting uniform) or "mean".
        tokens: attention: "steps" (per step/position/word where the encoder exposes them)
            or "pooled" (one token per input).
        modality_dropout: per-sample probability of dropping each input while training.
        missing: "zeros": an input that is all zeros in a sample (token ids all padding) is
            missing there and dropped as modality dropout drops it; "none": read as it is.
    """

    method: Method = "early"
    encoders: Mapping[str, str] | None = None
    width: int = 128
    heads: int = 4
    dropout: float = 0.1
    late_weights: Literal["learned", "mean"] = "learned"
    tokens: Literal["steps", "pooled"] = "steps"
    modality_dropout: float = 0.0
    missing: Literal["zeros", "none"] = "zeros"


# ---------------------------------------------------------------------------------------------
# modality dropout


def kept_count_probs(n_modalities: int, p: float) -> torch.Tensor:
    """P(K = k) for k = 1..M kept inputs, so that each input is dropped with probability ``p``.

    Inputs are kept independently with odds ``r`` and the draw is conditioned on keeping at
    least one: ``P(K = k) ∝ C(M, k) r^k``. By symmetry an input is kept with probability
    ``E[K] / M``, so ``r`` is solved (bisection on ``log r``) for ``E[K] = M (1 - p)``. For two
    inputs this is "drop each with probability ``p / (1 - p)``, redraw when both were dropped".

    Args:
        n_modalities: M >= 2.
        p: the drop probability, ``0 <= p <= (M - 1) / M``.

    Returns:
        (M,) float64 probabilities of keeping 1..M inputs.

    Raises:
        ValueError: M < 2 or ``p`` out of range.
    """
    m = n_modalities
    if m < 2:
        raise ValueError(f"modality dropout needs two or more inputs, got {m}")
    if not 0.0 <= p <= (m - 1) / m:
        raise ValueError(f"modality dropout {p} is out of range for {m} inputs: [0, {(m - 1) / m}]")
    k = torch.arange(1, m + 1, dtype=torch.float64)
    log_binom = torch.tensor(
        [math.lgamma(m + 1) - math.lgamma(j + 1) - math.lgamma(m - j + 1) for j in range(1, m + 1)],
        dtype=torch.float64,
    )

    def probs(log_r: float) -> torch.Tensor:
        return torch.softmax(log_binom + k * log_r, dim=0)

    if p == 0.0:
        return F.one_hot(torch.tensor(m - 1), m).to(torch.float64)
    target = m * (1.0 - p)
    lo, hi = -60.0, 60.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if float((probs(mid) * k).sum()) < target:
            lo = mid
        else:
            hi = mid
    return probs((lo + hi) / 2)


class ModalityDropout(nn.Module):
    """Draws which inputs each sample keeps: each dropped with probability ``p``, never all.

    Args:
        n_modalities: M >= 2 inputs.
        p: drop probability of each input, in ``[0, (M - 1) / M]``.
        generator: the stream of the draws (its state is not part of the state dict).
    """

    def __init__(self, n_modalities: int, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.n = n_modalities
        self.p = p
        self.generator = generator
        self.count_probs = kept_count_probs(n_modalities, p)  # (M,) over K = 1..M

    def sample(self, batch: int) -> torch.Tensor:
        """(B, M) float keep mask in {0, 1} with at least one 1 per row (whatever the mode)."""
        kept = torch.multinomial(
            self.count_probs.float(), batch, replacement=True, generator=self.generator
        )  # (B,), K - 1
        noise = torch.rand(batch, self.n, generator=self.generator)  # a uniform subset of size K
        rank = noise.argsort(dim=1).argsort(dim=1)  # (B, M), a random permutation per row
        return (rank <= kept.unsqueeze(1)).float()

    def forward(self, batch: int) -> torch.Tensor | None:
        """The keep mask of a training batch; None (keep everything) in eval mode or at p = 0."""
        if not self.training or self.p == 0.0:
            return None
        return self.sample(batch)

    def extra_repr(self) -> str:
        return f"n={self.n}, p={self.p}"


# ---------------------------------------------------------------------------------------------
# per-input tokens


def _conv1d_tokens(body: ConvNet1d, a: torch.Tensor) -> Tokens:
    h = body.blocks(a).transpose(1, 2)  # (B, C, T) → (B, T, C)
    return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


def _conv2d_tokens(body: ConvNet2d, a: torch.Tensor) -> Tokens:
    h = body.blocks(a).flatten(2).transpose(1, 2)  # (B, C, H', W') → (B, H'W', C)
    return h, torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)


def _rnn_tokens(body: RecurrentEncoder, a: torch.Tensor) -> Tokens:
    out, _ = body.rnn(body.norm(a).transpose(1, 2))  # (B, T, D)
    return out, torch.ones(out.shape[:2], dtype=torch.bool, device=out.device)


def _bag_tokens(body: BagOfWords, ids: torch.Tensor) -> Tokens:
    return body.embed(ids), ids != 0  # (B, L, E), (B, L)


def _textcnn_tokens(body: TextCNN, ids: torch.Tensor) -> Tokens:
    pad = (ids == 0).unsqueeze(1)  # (B, 1, L)
    e = body.embed(ids).transpose(1, 2)  # (B, E, L)
    length = ids.shape[1]
    maps = [torch.relu(conv(e)[..., :length]).masked_fill(pad, 0.0) for conv in body.convs]
    return torch.cat(maps, dim=1).transpose(1, 2), ids != 0  # (B, L, F x widths)


def _transformer_tokens(body: TransformerBody, a: torch.Tensor) -> Tokens:
    h, pad = body.tokens(a)  # (B, N, dim), (B, N) padding or None
    if body.cls is not None:
        h = torch.cat([body.cls.expand(len(h), -1, -1), h], dim=1)
        if pad is not None:
            pad = F.pad(pad, (1, 0), value=False)
    h = body.norm(body.encoder(body.dropout(h + body.pos), src_key_padding_mask=pad))
    real = torch.ones(h.shape[:2], dtype=torch.bool, device=h.device) if pad is None else ~pad
    return h, real


_TOKENIZERS: dict[type[nn.Module], Callable[[Any, torch.Tensor], Tokens]] = {
    ConvNet1d: _conv1d_tokens,
    ConvNet2d: _conv2d_tokens,
    RecurrentEncoder: _rnn_tokens,
    BagOfWords: _bag_tokens,
    TextCNN: _textcnn_tokens,
    TransformerBody: _transformer_tokens,
}


def modality_tokens(encoder: nn.Module, x: Inputs) -> Tokens | None:
    """The per-step tokens of one input's encoder, before its pooling, or None.

    The 1-D CNN gives one token per time step, the 2-D CNN one per position of its last feature
    map, GRU/LSTM their outputs per step, the text encoders one per word (padding masked), the
    Transformer its encoded tokens; every token has the width of the encoder's pooled features.
    Other encoders (the MLP) expose none.

    Args:
        encoder: an :class:`~fivefold.models.inputs.Encoder` of a registered model.
        x: the inputs (the encoder's adapter picks its own).

    Returns:
        (B, N, D) tokens and their (B, N) real-token mask, or None.
    """
    if not isinstance(encoder, Encoder):
        return None
    tokenize = _TOKENIZERS.get(type(encoder.body))
    if tokenize is None:
        return None
    return tokenize(encoder.body, encoder.adapter(x))


# ---------------------------------------------------------------------------------------------
# fusion blocks


def _kept(feats: Sequence[torch.Tensor], keep: torch.Tensor | None) -> list[torch.Tensor]:
    """Each (B, D_k) feature zeroed on the rows where input k is dropped."""
    if keep is None:
        return list(feats)
    return [f * keep[:, k : k + 1] for k, f in enumerate(feats)]


class EarlyFusion(nn.Module):
    """(B, D_k) features → concatenated (B, sum D_k) → Linear → ReLU → Dropout → (B, width)."""

    def __init__(self, dims: Sequence[int], width: int, dropout: float) -> None:
        super().__init__()
        self.out_dim = width
        self.net = nn.Sequential(nn.Linear(sum(dims), width), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, feats: Sequence[torch.Tensor], keep: torch.Tensor | None) -> torch.Tensor:
        out: torch.Tensor = self.net(torch.cat(_kept(feats, keep), dim=1))
        return out


class LateFusion(nn.Module):
    """Per-input features → ``[w_1 f_1, w_1, ..., w_M f_M, w_M]``, (B, sum (D_k + 1)).

    With the head ``[W_1 | u_1 | ... | W_M | u_M]`` (+ bias b) this is the weighted sum of the
    per-input logits ``W_k f_k + u_k + b`` (module docstring). ``blocks[k]`` is the
    ``(start, stop)`` of input k's block in the output; its last column holds ``w_k``.

    Args:
        dims: D_k of each input's features.
        weights: "learned" (a softmax of learned logits, uniform at the start) or "mean".
    """

    def __init__(self, dims: Sequence[int], weights: Literal["learned", "mean"]) -> None:
        super().__init__()
        self.dims = tuple(dims)
        self.out_dim = sum(d + 1 for d in dims)
        starts = [sum(d + 1 for d in dims[:k]) for k in range(len(dims))]
        self.blocks = tuple((s, s + d + 1) for s, d in zip(starts, dims, strict=True))
        self.logits = nn.Parameter(torch.zeros(len(dims))) if weights == "learned" else None

    def reset_parameters(self) -> None:
        if self.logits is not None:
            nn.init.zeros_(self.logits)

    def base_weights(self) -> torch.Tensor:
        """(M,) weights of the inputs when all are kept (softmax of the logits, or 1/M)."""
        if self.logits is None:
            return torch.full((len(self.dims),), 1.0 / len(self.dims))
        return torch.softmax(self.logits, dim=0)

    def weights(self, batch: int, keep: torch.Tensor | None) -> torch.Tensor:
        """(B, M) per-sample weights: the base weights renormalised over the kept inputs."""
        w = self.base_weights().unsqueeze(0).expand(batch, -1)  # (B, M)
        if keep is None:
            return w
        w = w * keep
        return w / w.sum(dim=1, keepdim=True)

    def forward(self, feats: Sequence[torch.Tensor], keep: torch.Tensor | None) -> torch.Tensor:
        w = self.weights(len(feats[0]), keep).to(feats[0].dtype)  # (B, M)
        parts = [
            torch.cat([w[:, k : k + 1] * f, w[:, k : k + 1]], dim=1) for k, f in enumerate(feats)
        ]
        return torch.cat(parts, dim=1)  # (B, sum (D_k + 1))

    def init_head(self, head: nn.Linear) -> None:
        """Initialise each input's block of ``head`` as ``nn.Linear(D_k + 1, C)`` would be."""
        with torch.no_grad():
            for start, stop in self.blocks:
                bound = 1.0 / math.sqrt(stop - start - 1 or 1)
                head.weight[:, start:stop].uniform_(-bound, bound)
            head.bias.zero_()


class GatedFusion(nn.Module):
    """Gated multimodal unit: ``h = sum_k z_k * tanh(W_k f_k)``, z a softmax over the inputs.

    The gates are per hidden unit, ``z = softmax_k(W_z [f_1; ...; f_M])`` reshaped to (B, M,
    width), as in the GMU (whose two-input sigmoid gate is this softmax for M = 2). A dropped
    input gets gate 0, the others are renormalised.

    Args:
        dims: D_k of each input's features.
        width: width of the unit's output.
    """

    def __init__(self, dims: Sequence[int], width: int) -> None:
        super().__init__()
        self.out_dim = width
        self.width = width
        self.proj = nn.ModuleList(nn.Linear(d, width) for d in dims)
        self.gate = nn.Linear(sum(dims), len(dims) * width)

    def gates(self, feats: Sequence[torch.Tensor], keep: torch.Tensor | None) -> torch.Tensor:
        """(B, M, width) gates, summing to 1 over the inputs for every sample and unit."""
        kept = _kept(feats, keep)
        scores = self.gate(torch.cat(kept, dim=1)).view(len(kept[0]), len(kept), self.width)
        if keep is not None:
            scores = scores.masked_fill(keep.unsqueeze(2) == 0, float("-inf"))
        return torch.softmax(scores, dim=1)

    def forward(self, feats: Sequence[torch.Tensor], keep: torch.Tensor | None) -> torch.Tensor:
        kept = _kept(feats, keep)
        h = torch.stack([torch.tanh(p(f)) for p, f in zip(self.proj, kept, strict=True)], dim=1)
        out: torch.Tensor = (self.gates(feats, keep) * h).sum(dim=1)  # (B, M, width) → (B, width)
        return out


class CrossAttention(nn.Module):
    """Pre-norm multi-head attention of query tokens over key tokens, then a feed-forward block.

    A query whose keys are all masked out gets no attention update (only its residual).

    Args:
        width: token width.
        heads: attention heads (divide ``width``).
        dropout: on the attention weights and the block outputs.
    """

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm_q, self.norm_kv, self.norm_ff = (nn.LayerNorm(width) for _ in range(3))
        self.q, self.k, self.v, self.o = (nn.Linear(width, width) for _ in range(4))
        self.ff = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width)
        )
        self.drop = nn.Dropout(dropout)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, d = t.shape
        return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, H, N, d/H)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, Nq, W) queries over (B, Nk, W) keys with a (B, Nk) mask → (B, Nq, W)."""
        kv = self.norm_kv(keys)
        q, k, v = (
            self._split(self.q(self.norm_q(query))),
            self._split(self.k(kv)),
            self._split(self.v(kv)),
        )
        has_key = mask.any(dim=1)  # (B,)
        allowed = (mask | ~has_key.unsqueeze(1))[:, None, None, :]  # (B, 1, 1, Nk)
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, Nq, d/H)
        att = att.transpose(1, 2).flatten(2) * has_key[:, None, None].to(query.dtype)
        h = query + self.drop(self.o(att))
        out: torch.Tensor = h + self.drop(self.ff(self.norm_ff(h)))
        return out


class AttentionFusion(nn.Module):
    """Cross-modal attention: each input's tokens attend to the others', pooled, concatenated.

    Args:
        dims: token width D_k of each input.
        width: common token width.
        heads: attention heads.
        dropout: dropout of the attention blocks.
    """

    def __init__(self, dims: Sequence[int], width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.out_dim = len(dims) * width
        self.proj = nn.ModuleList(nn.Linear(d, width) for d in dims)
        self.modality = nn.Parameter(torch.zeros(len(dims), width))
        self.blocks = nn.ModuleList(CrossAttention(width, heads, dropout) for _ in dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(self.modality, std=0.02)

    def forward(self, tokens: Sequence[Tokens], keep: torch.Tensor | None) -> torch.Tensor:
        """M (B, N_k, D_k) tokens with (B, N_k) masks → (B, M x width)."""
        embedded = [
            p(t) + self.modality[k]
            for k, (p, (t, _)) in enumerate(zip(self.proj, tokens, strict=True))
        ]
        real = [m for _, m in tokens]
        if keep is not None:  # a dropped input's tokens are hidden from the others
            visible = [m & (keep[:, k : k + 1] > 0) for k, m in enumerate(real)]
        else:
            visible = real
        pooled = []
        for k, block in enumerate(self.blocks):
            others = [j for j in range(len(embedded)) if j != k]
            keys = torch.cat([embedded[j] for j in others], dim=1)  # (B, sum N_j, W)
            mask = torch.cat([visible[j] for j in others], dim=1)  # (B, sum N_j)
            h = block(embedded[k], keys, mask)  # (B, N_k, W)
            weight = real[k].unsqueeze(-1).to(h.dtype)  # masked mean over the real tokens
            pooled.append((h * weight).sum(dim=1) / weight.sum(dim=1).clamp(min=1.0))
        return torch.cat(_kept(pooled, keep), dim=1)


# ---------------------------------------------------------------------------------------------
# the encoder and the classifier


class FusionEncoder(nn.Module):
    """``{input: tensor}`` → (B, D): one encoder per input, modality dropout, one fusion block.

    Args:
        keys: input names, in the order of ``encoders``.
        encoders: each input's encoder (a registered model's encoder built on a one-input view
            of the task: it reads its own input from the dict).
        dims: D_k, each encoder's feature (token) width.
        fusion: the fusion block (:class:`EarlyFusion`, :class:`LateFusion`,
            :class:`AttentionFusion` or :class:`GatedFusion`).
        dropout: the modality dropout.
        tokens: attention: "steps" (per-step tokens where the encoder exposes them) or
            "pooled" (one token per input).
        missing: "zeros": a sample's input that is all zeros (token ids all padding) counts as
            missing and is dropped like modality dropout drops it (features zeroed, tokens
            hidden, weights and gates renormalised over the present inputs; a sample with no
            input present reads them all), in training and evaluation alike, so that a model
            trained with modality dropout meets a missing input the way it learnt to; "none":
            every input is read as it is.
    """

    def __init__(
        self,
        keys: Sequence[str],
        encoders: Sequence[nn.Module],
        dims: Sequence[int],
        fusion: nn.Module,
        dropout: ModalityDropout,
        tokens: Literal["steps", "pooled"] = "steps",
        missing: Literal["zeros", "none"] = "zeros",
    ) -> None:
        super().__init__()
        self.keys = tuple(keys)
        self.missing = missing
        self.dims = tuple(dims)
        self.encoders = nn.ModuleList(encoders)
        self.fusion = fusion
        self.modality_dropout = dropout
        self.tokens = tokens
        self.out_dim: int = fusion.out_dim  # type: ignore[assignment]

    def present(self, x: Inputs) -> torch.Tensor | None:
        """(B, M) float mask of the inputs present in each sample (not all zeros); None when
        every input of every sample is present or ``missing`` is "none"."""
        if self.missing == "none" or not isinstance(x, dict):
            return None
        found = torch.stack([x[k].flatten(1).ne(0).any(1) for k in self.keys], dim=1)
        return None if bool(found.all()) else found.float()

    def modality_features(self, x: Inputs) -> list[torch.Tensor]:
        """Each input's (B, D_k) pooled features, in ``keys`` order (no modality dropout)."""
        return [enc(x) for enc in self.encoders]

    def modality_tokens(self, x: Inputs) -> list[Tokens]:
        """Each input's (B, N_k, D_k) tokens and (B, N_k) mask (pooled features: N_k = 1)."""
        out: list[Tokens] = []
        for enc in self.encoders:
            found = modality_tokens(enc, x) if self.tokens == "steps" else None
            if found is None:
                f = enc(x).unsqueeze(1)  # (B, 1, D)
                found = f, torch.ones(f.shape[:2], dtype=torch.bool, device=f.device)
            out.append(found)
        return out

    def forward(self, x: Inputs) -> torch.Tensor:
        """(B, D) fused features (D = ``out_dim``)."""
        keep = self.modality_dropout(input_length(x))  # (B, M) or None
        present = self.present(x)
        if present is not None:
            keep = present if keep is None else keep * present
            keep = torch.where(keep.sum(1, keepdim=True) > 0, keep, torch.ones_like(keep))
        if isinstance(self.fusion, AttentionFusion):
            out: torch.Tensor = self.fusion(self.modality_tokens(x), keep)
        else:
            out = self.fusion(self.modality_features(x), keep)
        return out


class FusionClassifier(Classifier):
    """``head(FusionEncoder(x))``: a Classifier over several inputs.

    Args:
        encoder: the fusion encoder.
        n_classes: C.
        method: the fusion method (kept for reports).
    """

    def __init__(self, encoder: FusionEncoder, n_classes: int, method: Method) -> None:
        super().__init__(encoder, encoder.out_dim, n_classes)
        self.method = method
        if isinstance(encoder.fusion, LateFusion):
            encoder.fusion.init_head(self.head)

    def parameter_counts(self) -> dict[str, object]:
        """Parameters per part: each input's encoder, the fusion block and the head."""
        enc = self.encoder
        assert isinstance(enc, FusionEncoder)

        def count(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())

        return {
            "encoders": {k: count(e) for k, e in zip(enc.keys, enc.encoders, strict=True)},
            "fusion": count(enc.fusion),
            "head": count(self.head),
        }


def _describe(task: Task) -> str:
    return ", ".join(f"{k} ({i.kind} {i.shape})" for k, i in sorted(task.inputs.items()))


def encoder_names(
    task: Task, encoders: Mapping[str, str] | None, path: str = "fusion"
) -> dict[str, str]:
    """The model name of each input: by its name in ``encoders``, else its kind, else the default.

    Raises:
        ConfigError: a key of ``encoders`` is neither an input nor a kind; a model is unknown,
            does not take its input's kind, or must re-encode its input (``minilm``).
    """
    given = dict(encoders or {})
    for key in given:
        if key not in task.inputs and key not in KINDS:
            raise ConfigError(
                f"{path}.encoders.{key}: dataset {task.name!r} has no input {key!r} and it is no "
                f"kind; use an input ({', '.join(sorted(task.inputs))}) or a kind "
                f"({', '.join(KINDS)})"
            )
    names = {}
    for key in sorted(task.inputs):
        info = task.inputs[key]
        where = key if key in given else info.kind
        name = given.get(key) or given.get(info.kind) or default_model_name(_view(task, key))
        plugin = MODELS.get(name, field=f"{path}.encoders.{where}")
        if info.kind not in plugin.modalities:
            fits = [e.name for e in MODELS if info.kind in e.obj.modalities and not e.obj.prepare]
            raise ConfigError(
                f"{path}.encoders.{where}: model {name!r} does not take the {info.kind} input "
                f"{key!r} of dataset {task.name!r}; models that do: {', '.join(fits)}"
            )
        if plugin.prepare is not None:
            raise ConfigError(
                f"{path}.encoders.{where}: model {name!r} re-encodes its input and cannot be a "
                f"fusion encoder; choose another model for input {key!r}"
            )
        names[key] = name
    return names


def _view(task: Task, key: str) -> Task:
    """``task`` with the one input ``key``: a model built on it reads ``x[key]`` from the dict."""
    return dataclasses.replace(task, inputs={key: task.inputs[key]})


def _fusion_block(options: FusionOptions, dims: list[int]) -> nn.Module:
    if options.method == "early":
        return EarlyFusion(dims, options.width, options.dropout)
    if options.method == "late":
        return LateFusion(dims, options.late_weights)
    if options.method == "gated":
        return GatedFusion(dims, options.width)
    return AttentionFusion(dims, options.width, options.heads, options.dropout)


def build_fusion_model(
    task: Task, options: FusionOptions, seed: int, *, path: str = "fusion"
) -> FusionClassifier:
    """A fusion model of ``task``'s inputs, initialised from ``seed``.

    The weights come from ``torch.manual_seed(seed)`` inside a forked global stream (which is
    left as it was), the modality-dropout draws from ``torch_generator(seed, "fusion",
    "modality_dropout")``: the same seed gives the same model and the same draws.

    Args:
        task: a task with two or more inputs.
        options: the method and its settings.
        seed: the model's seed.
        path: the option path named in errors.

    Returns:
        a :class:`FusionClassifier`; its encoder gives (B, D) features, its head (B, C) logits.

    Raises:
        ConfigError: the task has one input, or an encoder choice does not fit its input.
    """
    if len(task.inputs) < 2:
        raise ConfigError(
            f"{path} needs a task with two or more inputs; dataset {task.name!r} has one: "
            f"{_describe(task)}"
        )
    names = encoder_names(task, options.encoders, path)
    keys = sorted(task.inputs)
    if options.modality_dropout > (len(keys) - 1) / len(keys):
        raise ConfigError(
            f"{path}.modality_dropout: {options.modality_dropout} is above (M - 1) / M for the "
            f"{len(keys)} inputs of dataset {task.name!r}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders, dims = [], []
        for key in keys:
            plugin = MODELS.get(names[key])
            config = build(plugin.config_cls, {}, f"{path}.encoders.{key}")
            model = plugin.build(config, _view(task, key))
            encoders.append(model.encoder)
            dims.append(model.feature_dim)
        fusion = _fusion_block(options, dims)
        generator = torch_generator(seed, "fusion", "modality_dropout")
        dropout = ModalityDropout(len(keys), options.modality_dropout, generator)
        encoder = FusionEncoder(
            keys, encoders, dims, fusion, dropout, options.tokens, options.missing
        )
        return FusionClassifier(encoder, task.n_classes, options.method)


# ---------------------------------------------------------------------------------------------
# the registered ``fusion`` model


@dataclass(frozen=True)
class FusionConfig:
    """Which encoder reads each input and how their features are joined: the options of the
    ``fusion`` model and of the ``fusion`` technique."""

    method: Literal["early", "late", "attention", "gated"] = option(
        "early",
        help="early: concatenate the inputs' features, then an MLP block; late: one head per "
        "input, logits averaged with `late_weights`; attention: each input's tokens attend to "
        "the other inputs' tokens (cross-modal multi-head attention), then pooled; gated: "
        "gated multimodal unit (a softmax gate over the inputs per hidden unit)",
    )
    encoders: Mapping[str, str] | None = option(
        None,
        help="model per input, keyed by input name or kind, e.g. {gyroscope = 'gru', tabular = "
        "'mlp'}; other inputs get the default model of their kind (cnn for images and "
        "sequences of 32+ steps, mlp for tables and shorter sequences, text for token ids)",
    )
    width: int = option(
        128,
        help="early: width of the MLP block; gated: width of the gated unit; attention: token "
        "width (features are inputs x width)",
        min=1,
    )
    heads: int = option(4, help="attention: attention heads; must divide width", min=1, max=64)
    dropout: float = option(
        0.1, help="dropout in the early MLP block and the attention block", min=0.0, max=0.9
    )
    late_weights: Literal["learned", "mean"] = option(
        "learned",
        help="late: weights of the inputs' logits, a learned softmax (starting uniform) or the "
        "plain mean",
    )
    tokens: Literal["steps", "pooled"] = option(
        "steps",
        help="attention: tokens per time step, image position or word where the input's encoder "
        "has them (cnn, gru/lstm, text, transformer; mlp: one token), or one pooled token per "
        "input",
    )
    modality_dropout: float = option(
        0.0,
        help="while training, drop each input of each sample with this probability (never all "
        "of them): its features are zeroed and the other inputs' late weights and gates "
        "renormalised; 0: off",
        min=0.0,
        max=0.5,
    )
    missing: Literal["zeros", "none"] = option(
        "zeros",
        help="zeros: an input that is all zeros in a sample (text: all padding, e.g. an empty "
        "review) is missing there and dropped as modality dropout drops it, in training and "
        "evaluation; none: read every input as it is",
    )

    def __post_init__(self) -> None:
        if self.method == "attention" and self.width % self.heads:
            raise ValueError(
                f"heads ({self.heads}) must divide width ({self.width}) for method 'attention'"
            )
        for key, name in (self.encoders or {}).items():
            if not key:
                raise ValueError("encoders: an empty key; name an input or a kind")
            if name not in MODELS:
                raise ValueError(
                    f"encoders.{key}: unknown model {name!r}{did_you_mean(name, MODELS.names())};"
                    f" allowed: {', '.join(MODELS.names())}"
                )
            if MODELS.get(name).prepare is not None:
                raise ValueError(
                    f"encoders.{key}: model {name!r} re-encodes its input and cannot be a "
                    "fusion encoder; choose another model"
                )

    def options(self) -> FusionOptions:
        """The model-building options."""
        return FusionOptions(
            method=self.method,
            encoders=dict(self.encoders) if self.encoders else None,
            width=self.width,
            heads=self.heads,
            dropout=self.dropout,
            late_weights=self.late_weights,
            tokens=self.tokens,
            modality_dropout=self.modality_dropout,
            missing=self.missing,
        )


def build_fusion(config: FusionConfig, task: Task) -> FusionClassifier:
    """The registered model: a fusion model whose seed is drawn from the global random stream
    (as every model's initial weights are), so ``torch.manual_seed(s)`` before building gives
    the same model and the same modality-dropout draws."""
    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    return build_fusion_model(task, config.options(), seed, path="model")


MODELS.register(
    "fusion",
    help="an encoder per input (the default model of its kind unless `encoders` names one), "
    "joined early, late, by cross-modal attention or a gated unit; needs two or more inputs "
    "(the default model where the inputs cannot be concatenated, e.g. text beside a table)",
)(
    ModelPlugin(
        FusionConfig,
        build_fusion,
        frozenset({"image", "sequence", "tabular", "text"}),
        min_inputs=2,
    )
)
