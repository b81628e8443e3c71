"""One generic registry used by datasets, models, techniques and pillars, and one generic
:class:`Spec` (a plugin name with its validated options) that parses recipe, pillar and model
tables for all of them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fivefold.errors import ConfigError, did_you_mean
from fivefold.schema import build, to_dict

__all__ = ["Entry", "Registry", "Spec", "did_you_mean"]  # did_you_mean: re-exported

T = TypeVar("T")


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
        config_of: the options dataclass of a plugin, for registries whose plugins are
            configured through a :class:`Spec` (None: the registry parses no specs).
        make: ``(plugin, spec) -> instance`` used by :meth:`Spec.instantiate`.
        name_key: the key that names the plugin in a config table ("name", "technique").
        home: the package whose import registers every built-in plugin; a pickled registry
            (inside a Spec sent to a worker process) is found again by importing it.
    """

    def __init__(
        self,
        kind: str,
        *,
        config_of: Callable[[T], type[Any]] | None = None,
        make: Callable[[T, Spec[T]], Any] | None = None,
        name_key: str = "name",
        home: str | None = None,
    ) -> None:
        if home is not None:
            _REGISTRIES[kind] = self
        self.kind = kind
        self.home = home
        self.config_of = config_of
        self.make = make
        self.name_key = name_key
        self._entries: dict[str, Entry[T]] = {}

    def __reduce__(
        self,
    ) -> tuple[Callable[[str, str | None], Registry[Any]], tuple[str, str | None]]:
        # Built-in registries are process-wide singletons: pickle a reference, never a copy.
        if self.home is None:
            return super().__reduce__()  # type: ignore[return-value]
        return _registry_named, (self.kind, self.home)

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

    def spec(self, raw: Any, path: str | None = None) -> Spec[T]:
        """Parse ``"name"`` or ``{<name_key> = "name", ...options}`` into a validated Spec.

        Raises:
            ConfigError: naming ``path``, for an unknown name, option or value.
        """
        path = path if path is not None else self.kind
        if isinstance(raw, str):
            raw = {self.name_key: raw}
        if not isinstance(raw, Mapping) or self.name_key not in raw:
            raise ConfigError(
                f"{path}: expected a {self.kind} name or a table with "
                f"'{self.name_key} = \"name\"'; allowed names: {', '.join(self.names())}"
            )
        name = str(raw[self.name_key])
        options = {k: v for k, v in raw.items() if k != self.name_key}
        return self.spec_of(name, options, path)

    def spec_of(self, name: str, options: Any, path: str | None = None) -> Spec[T]:
        """The Spec of plugin ``name`` with ``options`` (a mapping, or the config itself)."""
        if self.config_of is None:
            raise TypeError(f"the {self.kind} registry has no configurable plugins")
        path = path if path is not None else self.kind
        plugin = self.get(name, field=f"{path}.{self.name_key}")
        return Spec(self, name, build(self.config_of(plugin), options, path))

    def specs(self, raw: Any, path: str | None = None) -> tuple[Spec[T], ...]:
        """From a list of names, or a table name → options (e.g. the ``[pillars]`` table).

        Raises:
            ConfigError: a name is unknown or listed twice, or an option is invalid.
        """
        path = path if path is not None else f"{self.kind}s"
        if isinstance(raw, list):
            names = [str(n) for n in raw]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ConfigError(f"{path}: {', '.join(twice)} listed twice; list each once")
            raw = {name: {} for name in names}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: expected a list of {self.kind} names or a table of options")
        out = []
        for name, options in raw.items():
            self.get(str(name), field=path)
            out.append(self.spec_of(str(name), options, f"{path}.{name}"))
        return tuple(out)


_REGISTRIES: dict[str, Registry[Any]] = {}


def _registry_named(kind: str, home: str | None) -> Registry[Any]:
    """This process's registry of ``kind`` (importing ``home`` creates and fills it)."""
    if home is not None:
        importlib.import_module(home)
    return _REGISTRIES[kind]


@dataclass(frozen=True)
class Spec(Generic[T]):
    """A plugin name with its validated options, as a config file lists it.

    Attributes:
        registry: where the plugin is registered (not part of equality or the hash).
        name: the registered name.
        config: the plugin's frozen options dataclass.
    """

    registry: Registry[T] = field(repr=False, compare=False)
    name: str
    config: Any

    @property
    def plugin(self) -> T:
        """The registered plugin (a class or a plugin record)."""
        return self.registry.get(self.name)

    def instantiate(self) -> Any:
        """A fresh plugin object with this config (the registry's ``make``)."""
        if self.registry.make is None:
            raise TypeError(f"{self.registry.kind} plugins are not instantiated from a Spec")
        return self.registry.make(self.plugin, self)

    def to_dict(self) -> dict[str, Any]:
        """The plain form: ``{<name_key>: name, **options}``."""
        return {self.registry.name_key: self.name, **to_dict(self.config)}
