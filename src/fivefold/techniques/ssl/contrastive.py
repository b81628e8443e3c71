"""SimCLR: two augmented views per sample, an MLP projection head and the NT-Xent loss.

Reference: Chen, Kornblith, Norouzi & Hinton, "A simple framework for contrastive learning of
visual representations", ICML 2020.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Contrastive", "ProjectionHead", "nt_xent"]

ViewFn = Callable[[dict[str, torch.Tensor], torch.Generator], dict[str, torch.Tensor]]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy of two (B, P) batches of projections.

    Row i of ``z1`` and row i of ``z2`` are the positive pair; the other 2B − 2 projections of
    the batch are the negatives. The loss is averaged over all 2B anchors.

    Args:
        z1: (B, P) projections of the first views (need not be normalised).
        z2: (B, P) projections of the second views.
        temperature: the softmax temperature τ.

    Returns:
        scalar loss.
    """
    batch = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, P) on the unit sphere
    sim = z @ z.T / temperature  # (2B, 2B) cosine similarities / τ
    sim = sim.masked_fill(torch.eye(2 * batch, dtype=torch.bool), float("-inf"))
    positive = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])  # (2B,)
    return F.cross_entropy(sim, positive)


class ProjectionHead(nn.Module):
    """SimCLR's projection g: Linear(D, D) → ReLU → Linear(D, P)."""

    def __init__(self, feature_dim: int, projection_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(feature_dim, feature_dim), nn.ReLU(), nn.Linear(feature_dim, projection_dim)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(h)  # (B, D) → (B, P)
        return out


class Contrastive(nn.Module):
    """The SimCLR objective: NT-Xent between projections of two independent views.

    Args:
        views: ``(inputs, generator) -> augmented inputs`` for a batch of inputs by name.
        feature_dim: D of the encoder's output.
        projection_dim: P of the projection head.
        temperature: τ of the NT-Xent loss.
    """

    def __init__(
        self, views: ViewFn, feature_dim: int, projection_dim: int, temperature: float
    ) -> None:
        super().__init__()
        self.views = views
        self.head = ProjectionHead(feature_dim, projection_dim)
        self.temperature = temperature

    def forward(
        self, encoder: nn.Module, x: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """The NT-Xent loss of one batch ``x`` (inputs by name)."""
        v1, v2 = self.views(x, generator), self.views(x, generator)
        batch = len(next(iter(x.values())))
        both = {k: torch.cat([v1[k], v2[k]]) for k in x}  # one forward: (2B, ...)
        h = encoder(both if len(both) > 1 else next(iter(both.values())))  # (2B, D)
        z = self.head(h)
        return nt_xent(z[:batch], z[batch:], self.temperature)
