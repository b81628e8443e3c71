"""Options of the ``fusion`` technique: those of the ``fusion`` model it builds."""

from __future__ import annotations

from fivefold.models.fusion import FusionConfig

__all__ = ["FusionConfig"]
