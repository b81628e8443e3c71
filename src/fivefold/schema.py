"""Typed, validated config dataclasses: build them from TOML tables with one-line errors.

Every config in fivefold (experiment, data, training, each model, technique and pillar) is a
frozen dataclass whose fields carry ``help`` text and optional ``min``/``max`` bounds via
:func:`option`. :func:`build` turns a raw mapping (from TOML) into that dataclass, rejecting
unknown keys (with a did-you-mean), wrong types and out-of-range values, naming the exact
field path, what is allowed and what was given. Floats must be finite (nan and ±inf are
rejected) unless the field is declared with ``finite=False``; an integer field whose name ends
in ``seed`` must lie in torch's seed range, ``0 <= seed < 2**63`` (see :func:`check_seed`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from fivefold.errors import ConfigError, did_you_mean

__all__ = ["SEED_LIMIT", "FieldHelp", "build", "check_seed", "describe", "option", "to_dict"]

C = TypeVar("C")
_MISSING = dataclasses.MISSING
SEED_LIMIT = 2**63
"""Seeds lie in ``[0, SEED_LIMIT)``: what ``torch.manual_seed`` and numpy accept alike."""


def option(
    default: Any = _MISSING,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    exclusive_min: bool = False,
    finite: bool = True,
) -> Any:
    """A dataclass field with help text and optional numeric bounds (inclusive unless told).

    ``finite=False`` lets a float field take nan and ±inf, which every other field rejects.
    """
    meta = {"help": help, "min": min, "max": max, "exclusive_min": exclusive_min, "finite": finite}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple or a default_factory-free immutable default")
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def build(cls: type[C], raw: Any, path: str) -> C:
    """Build the dataclass ``cls`` from ``raw`` (a mapping), validating every field.

    Raises:
        ConfigError: naming ``path.field``, the allowed values and the value given.
    """
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected a table of options, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in raw if k not in fields]
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"{_join(path, key)}: unknown option{did_you_mean(key, list(fields))}; "
            f"allowed: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _coerce(hints[name], raw[name], _join(path, name))
            _check_range(f, values[name], _join(path, name))
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{_join(path, name)}: missing required option ({_help(f)})")
    try:
        return cls(**values)
    except ValueError as err:  # __post_init__ cross-field checks
        raise ConfigError(f"{path}: {err}") from None


def to_dict(obj: Any) -> Any:
    """A JSON/TOML-ready plain form of a config (dataclasses → dicts, tuples → lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


@dataclasses.dataclass(frozen=True)
class FieldHelp:
    """One config field as shown by ``fivefold explain``."""

    name: str
    type: str
    default: str
    help: str


def describe(cls: type[Any]) -> list[FieldHelp]:
    """The fields of config class ``cls`` with their types, defaults and help text."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = "required" if f.default is _MISSING else repr(to_dict(f.default))
        out.append(FieldHelp(f.name, _type_name(hints[f.name]), default, _help(f)))
    return out


def _help(f: dataclasses.Field[Any]) -> str:
    text = str(f.metadata.get("help", ""))
    bounds = _range(f)
    return f"{text} {bounds}" if bounds else text


def _range(f: dataclasses.Field[Any]) -> str:
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is None and hi is None:
        return ""
    left = "(" if f.metadata.get("exclusive_min") else "["
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string"}.get(type(value))
    if isinstance(value, Mapping):
        kind = "table"
    elif isinstance(value, list | tuple):
        kind = "array"
    return f"{kind or type(value).__name__} {value!r}"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(get_args(tp)[0])}"
    if origin in (dict, Mapping):
        return "table"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, path: str) -> Any:  # noqa: PLR0911 - one branch per type form
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _coerce_union(tp, value, path)
    if origin is Literal:
        allowed = list(get_args(tp))
        if value not in allowed:
            hint = did_you_mean(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
            raise ConfigError(
                f"{path}: {_show(value)} is not allowed{hint}; allowed: "
                + ", ".join(repr(a) for a in allowed)
            )
        return value
    if origin is tuple:
        return _coerce_tuple(tp, value, path)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a table, got {_show(value)}")
        _, vtype = get_args(tp)
        return {str(k): _coerce(vtype, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)  # type: ignore[arg-type]
    return _coerce_scalar(tp, value, path)


def _coerce_union(tp: Any, value: Any, path: str) -> Any:
    args = get_args(tp)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in (a for a in args if a is not type(None)):
        try:
            return _coerce(arg, value, path)
        except ConfigError as err:
            errors.append(str(err))
    if len(errors) == 1:
        raise ConfigError(errors[0])
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_show(value)}")


def _coerce_tuple(tp: Any, value: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{path}: expected an array ({_type_name(tp)}), got {_show(value)}")
    item = get_args(tp)[0]
    return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))


def _coerce_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_show(value)}")


def check_seed(value: int, path: str) -> int:
    """``value`` if it is a valid seed, ``0 <= value < 2**63``.

    Raises:
        ConfigError: naming ``path``, the range and the value.
    """
    if not 0 <= value < SEED_LIMIT:
        raise ConfigError(
            f"{path}: {value} is out of range; a seed must be 0 <= seed < 2**63 "
            "(torch.manual_seed's range)"
        )
    return value


def _check_range(f: dataclasses.Field[Any], value: Any, path: str) -> None:
    if isinstance(value, Mapping):  # a table of numbers: name the entry, e.g. prob.rotate
        items = [(f"{path}.{k}", v) for k, v in value.items()]
    else:
        items = [(path, v) for v in (value if isinstance(value, tuple) else (value,))]
    for where, v in items:
        if isinstance(v, int | float) and not isinstance(v, bool):
            _check_number(f, v, where)


def _check_number(f: dataclasses.Field[Any], v: float, path: str) -> None:
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if isinstance(v, int):
        _check_int(f, v, path)
    # nan compares false with every bound, so it must be caught before the bounds are
    if isinstance(v, float) and not math.isfinite(v) and f.metadata.get("finite", True):
        raise ConfigError(
            f"{path}: {v!r} is not a finite number; allowed: {_range(f) or 'any finite number'}"
        )
    too_low = lo is not None and (v <= lo if f.metadata.get("exclusive_min") else v < lo)
    if too_low or (hi is not None and v > hi):
        raise ConfigError(f"{path}: {v!r} is out of range; allowed: {_range(f)}")


def _check_int(f: dataclasses.Field[Any], v: int, path: str) -> None:
    if f.name.endswith("seed"):
        check_seed(v, path)
    if not -SEED_LIMIT <= v < SEED_LIMIT:  # torch and numpy take 64-bit integers only
        bounds = f" in {_range(f)}" if _range(f) else ""
        raise ConfigError(f"{path}: {v} is out of range; allowed: a 64-bit integer{bounds}")
