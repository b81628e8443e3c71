"""User-facing errors: each prints as one line and exits with code 2, no traceback."""

from __future__ import annotations

import difflib

__all__ = [
    "ConfigError",
    "DataError",
    "FivefoldError",
    "TrainingError",
    "UserCodeError",
    "did_you_mean",
    "first_line",
]


class FivefoldError(Exception):
    """An error caused by user input (config, data, files) with a one-line, actionable message."""


class ConfigError(FivefoldError):
    """A config field is unknown, has the wrong type, is out of range or names an unknown plugin."""


class DataError(FivefoldError):
    """A dataset or user file is missing, malformed or inconsistent."""


class TrainingError(FivefoldError):
    """Training cannot go on (e.g. the loss became NaN/Inf)."""


class UserCodeError(FivefoldError):
    """The user's own code (``audit --model`` module or factory) failed to import, raised or
    returned something unusable; the original exception is kept as ``__cause__``."""


def first_line(err: BaseException) -> str:
    """``Type: first line of the message`` of ``err`` (just ``Type`` when it has no message)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0].strip()}" if lines else type(err).__name__


def did_you_mean(given: str, allowed: list[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest allowed name, or ''."""
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
