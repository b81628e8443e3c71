"""Helpers shared by tests (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import torch
from torch import nn


def fit_tiny_mlp(x: torch.Tensor, y: torch.Tensor, n_classes: int, steps: int) -> nn.Module:
    """A 4-16-C MLP fitted full-batch with Adam for ``steps`` steps (seeded)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, n_classes))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        torch.autograd.backward(nn.functional.cross_entropy(model(x), y))
        opt.step()
    return model
