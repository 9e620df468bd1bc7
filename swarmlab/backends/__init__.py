"""Where task bodies run, found by mode name.

Each backend runs the attempts the executor hands it and reports every outcome back
through the public :class:`Host` protocol, exactly once per attempt. The built-in
ones are imported only when asked for (:func:`get`), so ``dask`` costs nothing until
used and, when Dask distributed is missing, says how to install it.

Examples
--------
>>> from swarmlab import backends
>>> backends.get("thread").__name__
'ThreadBackend'
>>> "process" in backends.names()
True
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Backend, Host, call_kwargs, pickled

__all__ = ["Backend", "Host", "call_kwargs", "get", "names", "pickled", "register", "unregister"]

# mode name -> the backend class, or "module:Class" (relative to this package) until imported
_REGISTRY: dict[str, type[Backend] | str] = {
    "thread": ".thread:ThreadBackend",
    "process": ".process:ProcessBackend",
    "asyncio": ".aio:AsyncioBackend",
    "hybrid": ".hybrid:HybridBackend",
    "dask": ".dask:DaskBackend",
}


def register(mode: str, backend: type[Backend], *, replace: bool = False) -> None:
    """Make ``ParallelExecutor(mode=mode)`` run its attempts on ``backend``.

    Parameters
    ----------
    mode : str
        The mode name (recorded per run and per attempt).
    backend : type
        A :class:`Backend` subclass, made as ``backend(host)``.
    replace : bool
        Allow replacing a registered backend (a built-in one included).

    Raises
    ------
    ConfigError
        ``mode`` is not a non-empty name, ``backend`` is not a Backend subclass, or the
        name is taken and ``replace`` is False.
    """
    if not isinstance(mode, str) or not mode.isidentifier():
        raise ConfigError(f"a backend's mode must be a name like 'my_cluster'; got {mode!r}")
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise ConfigError(f"register takes a subclass of swarmlab.backends.Backend; got {backend!r}")
    if mode in _REGISTRY and not replace:
        raise ConfigError(f"a backend is already registered as {mode!r}; pass replace=True to replace it")
    _REGISTRY[mode] = backend


def unregister(mode: str) -> None:
    """Forget a backend registered with :func:`register` (the built-in ones stay)."""
    builtin = ("thread", "process", "asyncio", "hybrid", "dask")
    if mode in builtin:
        raise ConfigError(f"{mode!r} is a built-in backend; replace it with register(..., replace=True)")
    _REGISTRY.pop(mode, None)


def names() -> list[str]:
    """The registered mode names, the built-in ones first."""
    return list(_REGISTRY)


def get(mode: str) -> type[Backend]:
    """The backend class registered as ``mode`` (imported now if it was not).

    Raises
    ------
    ConfigError
        No backend is registered under that name.
    BackendUnavailable
        Its optional dependency is missing (DASK without Dask distributed); the message
        gives the install command.
    """
    found = _REGISTRY.get(mode) if isinstance(mode, str) else None
    if found is None:
        raise ConfigError(f"mode must be one of {', '.join(map(repr, _REGISTRY))}; got {mode!r}")
    if isinstance(found, str):
        module, _, cls = found.partition(":")
        found = _REGISTRY[mode] = getattr(importlib.import_module(module, __package__), cls)
    return found
