"""Drift detectors from river behind one small interface: feed values, get detection indexes.

The detectors are river's (0.26 API: ``det.update(x)`` then ``det.drift_detected``); this
module only checks option names, counts values and records where a detector fired. Like
river, a detector restarts from scratch on the value after a detection.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Literal

from river import base as river_base
from river import drift

from fivefold.errors import ConfigError, did_you_mean

__all__ = [
    "DETECTORS",
    "DetectorKind",
    "DriftMonitor",
    "detect",
    "detector_options",
    "make_detector",
]

DetectorKind = Literal["adwin", "page_hinkley", "kswin"]
OptionValue = float | int | str

DETECTORS: dict[str, type[river_base.DriftDetector]] = {
    "adwin": drift.ADWIN,
    "page_hinkley": drift.PageHinkley,
    "kswin": drift.KSWIN,
}
"""Detector kind → river class (ADWIN: Bifet & Gavaldà 2007; Page-Hinkley: Page 1954;
KSWIN: Raab et al. 2020)."""

_NOT_OPTIONS = ("self", "seed", "window")  # the seed has its own argument; window is state


def detector_options(kind: str) -> dict[str, object]:
    """The option names of detector ``kind`` with river's defaults (read from its signature).

    Raises:
        ConfigError: unknown kind.
    """
    if kind not in DETECTORS:
        raise ConfigError(
            f"detector: unknown kind {kind!r}{did_you_mean(kind, list(DETECTORS))}; "
            f"choose one of {', '.join(DETECTORS)}"
        )
    params = inspect.signature(DETECTORS[kind].__init__).parameters
    return {n: p.default for n, p in params.items() if n not in _NOT_OPTIONS}


class DriftMonitor:
    """A river drift detector that remembers the indexes of the values at which it fired.

    Args:
        detector: a fresh river drift detector.

    Attributes:
        detections: 0-based indexes (counted from creation or the last :meth:`reset`) of the
            values whose update raised ``drift_detected``.
    """

    def __init__(self, detector: river_base.DriftDetector) -> None:
        self._template = detector.clone()
        self._detector = detector
        self._count = 0
        self.detections: list[int] = []

    @property
    def seen(self) -> int:
        """Values fed since creation or the last reset."""
        return self._count

    def update(self, value: float) -> bool:
        """Feed one value; True when the detector signals a drift at this value."""
        self._detector.update(float(value))
        fired = bool(self._detector.drift_detected)
        if fired:
            self.detections.append(self._count)
        self._count += 1
        return fired

    def reset(self) -> None:
        """A fresh detector with the same options (and seed); counts and detections cleared."""
        self._detector = self._template.clone()
        self._count = 0
        self.detections = []


def make_detector(
    kind: DetectorKind, options: Mapping[str, OptionValue] | None = None, seed: int | None = None
) -> DriftMonitor:
    """A :class:`DriftMonitor` around river's ADWIN, PageHinkley or KSWIN.

    Args:
        kind: "adwin", "page_hinkley" or "kswin".
        options: keyword options of the river class (e.g. ``{"delta": 0.002}`` for ADWIN,
            ``{"threshold": 50, "mode": "up"}`` for Page-Hinkley, ``{"alpha": 0.005,
            "window_size": 100}`` for KSWIN); unset ones keep river's defaults.
        seed: KSWIN's sampling seed (the other two draw no random numbers).

    Returns:
        the monitor.

    Raises:
        ConfigError: an unknown kind or option name (the message lists the valid ones) or an
            option value river rejects.

    Reference: Bifet & Gavaldà, "Learning from Time-Changing Data with Adaptive Windowing",
    SDM 2007 (ADWIN); Page, "Continuous Inspection Schemes", Biometrika 1954 (Page-Hinkley);
    Raab et al., "Reactive Soft Prototype Computing for Concept Drift Streams",
    Neurocomputing 2020 (KSWIN).
    """
    valid = detector_options(kind)
    given: dict[str, OptionValue | None] = dict(options or {})
    for name in given:
        if name not in valid:
            raise ConfigError(
                f"detector: {kind} has no option {name!r}{did_you_mean(name, list(valid))}; "
                f"valid options: {', '.join(valid)}"
            )
    if kind == "kswin":
        given["seed"] = seed
    try:
        detector = DETECTORS[kind](**given)
    except (ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"detector: bad {kind} options {dict(options or {})}: {first}") from err
    return DriftMonitor(detector)


def detect(
    kind: DetectorKind,
    values: Iterable[float],
    options: Mapping[str, OptionValue] | None = None,
    seed: int | None = None,
) -> list[int]:
    """The 0-based indexes of ``values`` at which a fresh detector fires.

    Args:
        kind: "adwin", "page_hinkley" or "kswin".
        values: the monitored signal in order (e.g. 0/1 errors or losses).
        options: the detector's options (see :func:`make_detector`).
        seed: KSWIN's seed.

    Returns:
        detection indexes in increasing order.

    Raises:
        ConfigError: unknown kind or option, or a rejected option value.
    """
    monitor = make_detector(kind, options, seed)
    for value in values:
        monitor.update(value)
    return monitor.detections
