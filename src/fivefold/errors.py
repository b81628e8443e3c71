"""User-facing errors: each prints as one line and exits with code 2, no traceback."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "FivefoldError", "TrainingError"]


class FivefoldError(Exception):
    """An error caused by user input (config, data, files) with a one-line, actionable message."""


class ConfigError(FivefoldError):
    """A config field is unknown, has the wrong type, is out of range or names an unknown plugin."""


class DataError(FivefoldError):
    """A dataset or user file is missing, malformed or inconsistent."""


class TrainingError(FivefoldError):
    """Training cannot go on (e.g. the loss became NaN/Inf)."""
