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
from ..model import ExecutionMode
from .base import Backend, Host, call_kwargs, pickled

__all__ = ["BUILTIN_MODES", "Backend", "Host", "call_kwargs", "get", "names", "pickled", "register", "unregister"]

# Where the backend of each built-in mode lives, "module:Class" relative to this package
# (imported when first asked for).
_BUILTIN_PATHS = {
    ExecutionMode.THREAD: ".thread:ThreadBackend",
    ExecutionMode.PROCESS: ".process:ProcessBackend",
    ExecutionMode.ASYNCIO: ".aio:AsyncioBackend",
    ExecutionMode.HYBRID: ".hybrid:HybridBackend",
    ExecutionMode.DASK: ".dask:DaskBackend",
}
# mode name -> the backend class, or its "module:Class" until imported. The registry is
# where modes are listed: code that needs the modes a run may use asks names(), so a
# backend registered later is one of them.
_REGISTRY: dict[str, type[Backend] | str] = {m.value: _BUILTIN_PATHS[m] for m in ExecutionMode}
#: The built-in modes (those of :class:`~swarmlab.model.ExecutionMode`), in that order:
#: :func:`unregister` leaves them in place.
BUILTIN_MODES: tuple[str, ...] = tuple(_REGISTRY)


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
    if mode in BUILTIN_MODES:
        raise ConfigError(f"{mode!r} is a built-in backend; replace it with register(..., replace=True)")
    _REGISTRY.pop(mode, None)


def names() -> list[str]:
    """The registered mode names, the built-in ones first (:data:`BUILTIN_MODES`), then
    those :func:`register` added: every mode a run may name."""
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
