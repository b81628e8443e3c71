"""The learning-rate schedule is a pure function with known values."""

from __future__ import annotations

import math

import pytest

from fivefold.training.schedule import lr_factor


def test_warmup_is_linear_then_cosine_decays_to_zero() -> None:
    assert lr_factor(0, 10, 100, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 10, 100, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 10, 100, "cosine") == pytest.approx(0.0, abs=1e-12)


def test_linear_and_constant() -> None:
    assert lr_factor(55, 10, 100, "linear") == pytest.approx(0.5)
    assert lr_factor(80, 10, 100, "constant") == 1.0
    assert lr_factor(5, 0, 100, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.05)))
