"""Validators: user input checked at the boundary, one function per kind of value.

Each raises :class:`~swarmlab.errors.ConfigError` (a ``ValueError``) in one sentence: what
was given, what is allowed, and, where it helps, what to do. ``what`` names the value as
the user wrote it (``"Agent 'a1' capacity"``, ``"simulate seed"``) and opens the message.
Those that normalise return the value to keep (an enum member, a frozenset of names, a
list); the others return what they were given or nothing.

Standard library only, beside :mod:`swarmlab.errors` and :mod:`swarmlab.model` at the
foundation, so every layer may check its input the same way. A check that names a model
class (a run's list of :class:`~swarmlab.model.Agent`) is built in :mod:`swarmlab.model`
from the generic one here (:func:`instances`).

>>> positive(2.5, "Agent 'a1' speed")
2.5
>>> positive(0, "Agent 'a1' capacity", integer=True)
Traceback (most recent call last):
...
swarmlab.errors.ConfigError: Agent 'a1' capacity must be a positive integer; got 0
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Any

from .errors import ConfigError

__all__ = ["above_zero", "capability_names", "enum_value", "exception_types", "instances", "non_negative",
           "positive", "positive_int", "seed_value", "unique_ids", "units", "unit_map"]


def enum_value(enum: type[Enum], value: Any, what: str) -> Any:
    """``value`` as a member of ``enum`` (a member, or one's value); the message lists the
    allowed values."""
    if isinstance(value, enum):
        return value
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise ConfigError(f"{what} must be one of {allowed}; got {value!r}") from None


def positive(value: Any, what: str, *, allow_none: bool = False, integer: bool = False) -> Any:
    """A finite number > 0 (an int > 0 with ``integer``; None too with ``allow_none``),
    returned as given. A bool is not a number here."""
    if value is None and allow_none:
        return None
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or not value > 0 or (
        not integer and not math.isfinite(value)
    ):
        kind = "a positive integer" if integer else "a positive number"
        if allow_none:
            kind += " or None"
        raise ConfigError(f"{what} must be {kind}; got {value!r}")
    return value


def positive_int(value: Any, what: str, *, allow_none: bool = False) -> None:
    """An int >= 1 (None too with ``allow_none``): a count of things (agents, tasks,
    repeats, workers). Its message says "a positive int", as the configuration objects
    of the original API always did (:func:`positive` says "integer")."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive int{' or None' if allow_none else ''}; got {value!r}")


def above_zero(value: Any, what: str) -> None:
    """Any number > 0, infinity included: a parameter of a model (a duration model's
    spread, a bucket width), where :func:`positive`'s finiteness is not asked for."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{what} must be positive; got {value!r}")


def non_negative(value: Any, what: str) -> None:
    """A finite number >= 0 (an estimate, a backoff)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        value >= 0 and math.isfinite(value)
    ):
        raise ConfigError(f"{what} must be a number >= 0; got {value!r}")


def seed_value(value: Any, what: str) -> int:
    """A run's seed: an int (or an integer type such as numpy's), never a bool."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise ConfigError(f"{what} must be an int; got {value!r}; give a whole number such as 0")
    return operator.index(value)


def capability_names(value: Any, what: str) -> frozenset[str]:
    """Capability names, from one name or an iterable of names (None and "" are none)."""
    t = type(value)
    if t is not tuple and t is not list and t is not frozenset and t is not set:  # the usual ones first
        if isinstance(value, str):
            return frozenset((value,)) if value else frozenset()
        if value is None:
            return frozenset()
        allowed = f"{what} must be a capability name (str) or an iterable of them, like ['gpu', 'net']"
        if isinstance(value, Mapping):
            raise ConfigError(f"{allowed}; got {t.__name__} {value!r}; pass list(...) of the names meant")
        if not isinstance(value, Iterable):
            raise ConfigError(f"{allowed}; got {value!r}")
    names = frozenset(value)
    for n in names:
        if type(n) is not str and not isinstance(n, str):
            raise ConfigError(
                f"{what} must be a capability name (str) or an iterable of them, like ['gpu', 'net']; "
                f"got {n!r} in {value!r}; name each capability with a str"
            )
    return names


def exception_types(value: Any, what: str) -> tuple[type[BaseException], ...]:
    """An exception type or an iterable of them, as a tuple (what ``except`` takes)."""
    types = (value,) if isinstance(value, type) else tuple(value)
    if not all(isinstance(e, type) and issubclass(e, BaseException) for e in types):
        raise ConfigError(f"{what} must be an exception type or a tuple of them; got {value!r}")
    return types


def instances(value: Any, cls: type, what: str, hint: str) -> list:
    """``value`` as a list of ``cls`` objects, checked here (not met later as an
    AttributeError deep in a run); one object, a str or a mapping is refused. ``hint``
    ends the message: how to build them."""
    if isinstance(value, (str, cls, Mapping)) or not isinstance(value, Iterable):
        raise ConfigError(f"{what} must be {cls.__name__} objects; got {type(value).__name__} {value!r}; {hint}")
    out = list(value)
    for item in out:
        if not isinstance(item, cls):
            raise ConfigError(f"{what} must be {cls.__name__} objects; got {type(item).__name__} {item!r}; {hint}")
    return out


def units(value: Any, what: str) -> float:
    """A count of units of a resource: a finite number >= 0 (a float: GPUs may be
    shared), never NaN, infinity or a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ConfigError(f"{what} must be a finite number of units >= 0; got {value!r}")
    return float(value)


def unit_map(value: Any, what: str, *, positive_only: bool = False) -> dict[str, float]:
    """Units by resource name, ``{"gpu": 1, "llm": 1}``: a mapping of non-empty str to
    :func:`units` (> 0 with ``positive_only``, as a pool's size). None is no units."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what} must be a dict of resource name -> units, such as {{'gpu': 1}}; got {value!r}")
    out: dict[str, float] = {}
    for name, n in value.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{what}: resource names must be non-empty str; got {name!r}")
        n = units(n, f"{what}[{name!r}]")
        if positive_only and n == 0:
            raise ConfigError(f"{what}[{name!r}] must be > 0 (a pool of 0 units never lets a task start); got {n!r}")
        out[name] = n
    return out


def unique_ids(ids: Sequence[str], what: str) -> None:
    """``ids`` hold no id twice; else a ConfigError naming those that repeat."""
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = sorted({i for i in ids if i in seen or seen.add(i)})
        raise ConfigError(f"{what} ids must be unique; these repeat: {dup}")
