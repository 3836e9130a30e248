"""Typed configurations: frozen dataclasses whose fields carry their source, overridable by ``name=value``.

Every configurable part of corrtrack (SynthTrack, the simulated detector, the networks,
the trackers) is a frozen dataclass. Each field is declared with :func:`param`, which
records where its default comes from::

    @dataclass(frozen=True)
    class TrackerConfig:
        tau_corr: float = param(0.3, "supplement, Table 1: best correspondence threshold")

Sources name a document a user can read: ``paper``, ``supplement`` (with the section),
``reference code`` (the authors' PoseTrack21 scripts), ``official evaluator`` or
``our choice``. docs/method.md lists them.

:func:`override` applies command-line overrides (``--set name=value``, values parsed
against the field's type: numbers, booleans, strings, ``Literal`` choices, tuples as
``a,b``, and ``none`` for optional fields) with a one-line error for anything wrong;
:func:`config_to_dict` / :func:`dump_config` write a config next to an output so a run
can be repeated.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

__all__ = [
    "ConfigError",
    "config_to_dict",
    "describe",
    "dump_config",
    "override",
    "override_routed",
    "param",
    "source_of",
]

C = TypeVar("C")


class ConfigError(ValueError):
    """A bad ``name=value`` override: the message is one line naming the field and the problem."""


def param(default: Any, source: str, *, choices: Iterable[Any] | None = None) -> Any:
    """A dataclass field with its default and the source of that default."""
    meta: dict[str, Any] = {"source": source}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if isinstance(default, (list, dict, set)):
        raise TypeError("configs are frozen: use a tuple, not a mutable default")
    return dataclasses.field(default=default, metadata=meta)


def source_of(config: Any, name: str) -> str:
    """The documented source of field ``name`` ("" if none was given)."""
    for f in dataclasses.fields(config):
        if f.name == name:
            return f.metadata.get("source", "")
    raise KeyError(name)


def describe(config: Any) -> list[tuple[str, Any, str]]:
    """``(name, value, source)`` for every field: the table in docs and in ``--help``."""
    return [(f.name, getattr(config, f.name), f.metadata.get("source", "")) for f in dataclasses.fields(config)]


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) < len(get_args(tp)) and len(args) == 1:
            return True, args[0]
    return False, tp


def _parse(text: str, tp: Any, name: str) -> Any:
    optional, tp = _is_optional(tp)
    text = text.strip()
    if optional and text.lower() in ("none", "null", ""):
        return None
    origin = get_origin(tp)
    if origin is typing.Literal:
        allowed = get_args(tp)
        for a in allowed:
            if str(a) == text:
                return a
        raise ConfigError(f"{name}: {text!r} is not one of {', '.join(map(str, allowed))}")
    if origin is tuple:
        args = get_args(tp)
        parts = [p for p in text.split(",")] if text else []
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(p, args[0], name) for p in parts)
        if len(parts) != len(args):
            raise ConfigError(f"{name}: expected {len(args)} comma-separated values, got {text!r}")
        return tuple(_parse(p, a, name) for p, a in zip(parts, args))
    if tp is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: {text!r} is not a boolean (true or false)")
    if tp is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not an integer") from None
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name}: {text!r} is not a finite number")
        return value
    if tp is str:
        return text
    raise ConfigError(f"{name}: cannot be set from the command line")


def override(config: C, items: Iterable[str] | Mapping[str, str], *, fixed: Iterable[str] = ()) -> C:
    """A copy of ``config`` with ``name=value`` overrides (strings, parsed by the field types).

    Names may use ``-`` for ``_``. ``fixed`` lists fields that may not be overridden.
    Unknown names, unparsable values and values outside a field's declared choices raise
    :class:`ConfigError` with one line. The dataclass's own ``__post_init__`` checks run too.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), str(v)) for k, v in items.items()]
    else:
        for item in items:
            key, sep, text = item.partition("=")
            if not sep:
                raise ConfigError(f"bad setting {item!r}: use NAME=VALUE")
            pairs.append((key, text))
    fields = {f.name: f for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    hints = _type_hints(type(config))
    allowed = sorted(n for n in fields if n not in set(fixed))
    changes: dict[str, Any] = {}
    for key, text in pairs:
        name = key.strip().replace("-", "_")
        if name not in allowed:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(allowed)}")
        value = _parse(text, hints[name], name)
        choices = fields[name].metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")
        changes[name] = value
    try:
        return dataclasses.replace(config, **changes)  # type: ignore[type-var]
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc).splitlines()[0]) from None


def override_routed(settings: Iterable[str] | Mapping[str, Any], configs: dict[str, Any]) -> dict[str, Any]:
    """Apply ``name=value`` settings to a group of configs: each goes to the first config with that field.

    ``settings`` are ``NAME=VALUE`` strings or a mapping (values may be typed; tuples are
    written as ``a,b``). Unknown names raise :class:`ConfigError` listing every known field.
    """
    if isinstance(settings, Mapping):
        items = [(str(k), ",".join(map(str, v)) if isinstance(v, tuple) else str(v)) for k, v in settings.items()]
    else:
        items = []
        for item in settings:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"bad setting {item!r}: use NAME=VALUE")
            items.append((key, value))
    out = dict(configs)
    for key, value in items:
        name = key.strip().replace("-", "_")
        owner = next((k for k, c in out.items() if name in {f.name for f in dataclasses.fields(c)}), None)
        if owner is None:
            known = sorted({f.name for c in out.values() for f in dataclasses.fields(c)})
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(known)}")
        out[owner] = override(out[owner], {name: value})
    return out


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict: ``{"type": ClassName, "values": {...}, "sources": {...}}``; nested configs recurse."""

    def value(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return config_to_dict(v)
        if isinstance(v, tuple):
            return [value(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return {
        "type": type(config).__name__,
        "values": {f.name: value(getattr(config, f.name)) for f in dataclasses.fields(config)},
        "sources": {f.name: f.metadata["source"] for f in dataclasses.fields(config) if "source" in f.metadata},
    }


def dump_config(path: str | Path, **configs: Any) -> None:
    """Write ``{name: config_to_dict(config)}`` atomically as JSON (``config.json`` beside an output)."""
    from corrtrack.fileio import write_json

    write_json(path, {name: config_to_dict(c) for name, c in configs.items()}, indent=1)
