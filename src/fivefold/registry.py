"""One generic registry used by datasets, models, techniques and pillars."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from fivefold.errors import ConfigError

__all__ = ["Entry", "Registry", "did_you_mean"]

T = TypeVar("T")


def did_you_mean(given: str, allowed: list[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest allowed name, or ''."""
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered plugin: its name, the object and a one-line help text."""

    name: str
    obj: T
    help: str


class Registry(Generic[T]):
    """A name → plugin mapping with decorator registration and helpful lookup errors.

    Args:
        kind: what the registry holds, used in error messages ("dataset", "model", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, *, help: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a name may be registered once."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, obj, help)
            return obj

        return add

    def get(self, name: str, *, field: str | None = None) -> T:
        """Return the plugin called ``name``.

        Raises:
            ConfigError: the name is unknown; the message lists the allowed names.
        """
        return self.entry(name, field=field).obj

    def entry(self, name: str, *, field: str | None = None) -> Entry[T]:
        """Return the registry entry called ``name`` (see :meth:`get`)."""
        if name not in self._entries:
            where = f"{field}: " if field else ""
            allowed = self.names()
            raise ConfigError(
                f"{where}unknown {self.kind} {name!r}{did_you_mean(name, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)
