"""Shared test settings (one torch thread, so tests stay fast even beside another busy process)
and the fixtures that several test folders use."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def trained_digits_cnn() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small CNN trained for about a second on scikit-learn digits in [0, 1]; 397 test."""
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(data.target)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 16, 10),
    )
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(6):
        for idx in torch.split(torch.randperm(1400), 64):
            opt.zero_grad()
            torch.autograd.backward(nn.functional.cross_entropy(model(x[idx]), y[idx]))
            opt.step()
    return model.eval(), x[1400:], y[1400:]
