"""User-facing errors: each prints as one line and exits with code 2, no traceback."""

from __future__ import annotations

import difflib

__all__ = ["ConfigError", "DataError", "FivefoldError", "TrainingError", "did_you_mean"]


class FivefoldError(Exception):
    """An error caused by user input (config, data, files) with a one-line, actionable message."""


class ConfigError(FivefoldError):
    """A config field is unknown, has the wrong type, is out of range or names an unknown plugin."""


class DataError(FivefoldError):
    """A dataset or user file is missing, malformed or inconsistent."""


class TrainingError(FivefoldError):
    """Training cannot go on (e.g. the loss became NaN/Inf)."""


def did_you_mean(given: str, allowed: list[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest allowed name, or ''."""
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
