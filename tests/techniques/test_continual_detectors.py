"""The drift-detector wrapper fires exactly where river itself does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river import drift

from fivefold.errors import ConfigError
from fivefold.techniques.adaptive.continual.detectors import (
    detect,
    detector_options,
    make_detector,
)

RIVER = {"adwin": drift.ADWIN, "page_hinkley": drift.PageHinkley, "kswin": drift.KSWIN}
OPTIONS: dict[str, dict[str, Any]] = {
    "adwin": {"delta": 0.01},
    "page_hinkley": {"threshold": 20.0, "min_instances": 20},
    "kswin": {"alpha": 0.001, "window_size": 80, "stat_size": 25},
}


def mean_shift(seed: int = 0, length: int = 600) -> list[float]:
    """``length`` values around 0, then around 2 (unit noise), then back around 0."""
    rng = np.random.default_rng(seed)
    means = np.repeat([0.0, 2.0, 0.0], length)
    return [float(v) for v in means + rng.normal(size=len(means))]


def river_indexes(kind: str, values: list[float], options: dict[str, Any]) -> list[int]:
    extra = {"seed": 3} if kind == "kswin" else {}
    det = RIVER[kind](**options, **extra)
    out = []
    for i, v in enumerate(values):
        det.update(v)
        if det.drift_detected:
            out.append(i)
    return out


@pytest.mark.parametrize("kind", ["adwin", "page_hinkley", "kswin"])
def test_wrapper_fires_where_river_fires(kind: str) -> None:
    length = 200 if kind == "kswin" else 600  # KSWIN runs a KS test per value: keep it short
    values = mean_shift(length=length)
    expected = river_indexes(kind, values, OPTIONS[kind])
    assert any(length <= i < length + 200 for i in expected)  # the shift is found
    assert detect(kind, values, OPTIONS[kind], seed=3) == expected  # type: ignore[arg-type]
    monitor = make_detector(kind, OPTIONS[kind], seed=3)  # type: ignore[arg-type]
    fired = [i for i, v in enumerate(values) if monitor.update(v)]
    assert fired == expected == monitor.detections
    monitor.reset()
    assert monitor.detections == [] and monitor.seen == 0
    for v in values:
        monitor.update(v)
    assert monitor.detections == expected  # a reset monitor starts over identically


def test_defaults_and_seed_reproducibility() -> None:
    values = mean_shift(1)
    assert detect("adwin", values) == river_indexes("adwin", values, {})
    short = values[500:800]
    assert detect("kswin", short, seed=5) == detect("kswin", short, seed=5)
    assert set(detector_options("kswin")) == {"alpha", "window_size", "stat_size"}
    assert "mode" in detector_options("page_hinkley")


def test_unknown_names_and_bad_values_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="valid options: delta, clock") as err:
        make_detector("adwin", {"delt": 0.1})
    assert "did you mean 'delta'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown kind"):
        make_detector("cusum", {})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kswin"):
        make_detector("kswin", {"alpha": 2.0})
    with pytest.raises(ConfigError, match="seed"):
        make_detector("kswin", {"seed": 1})  # the seed has its own argument
