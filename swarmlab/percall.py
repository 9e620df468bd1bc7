"""A provider's limits per call: ``swarmlab.acquire(**units)`` and ``swarmlab.call(fn, ...)``.

An agent task makes several calls to its provider; each is bounded by the provider's
limits (calls in flight per key, requests and tokens per minute) declared as the run's
pools and rates (``ResourceLimits(pools=..., rates=...)``). Inside a task body:

.. code-block:: python

    async with swarmlab.acquire(llm=1, rpm=1, tpm=2000):   # ASYNCIO body
        reply = await client.complete(prompt)

    with swarmlab.acquire(llm=1, rpm=1, tpm=2000):         # THREAD body
        reply = client.complete(prompt)

    reply = await swarmlab.call(client.complete, prompt, units={"llm": 1, "rpm": 1, "tpm": 2000})

``acquire`` waits until the units are free (a coroutine waits without holding a thread),
holds the pool units for the block and spends the rate units (a rate's ``reported``
value trues the bucket up when the attempt ends, as for a task's own units). The wait is
recorded per attempt in the tasks frame's ``limit_wait_s``. Calls are served first come,
first served, before any task start that needs the same resource (see
:mod:`swarmlab.core.calls`). Units the task holds already through ``Task.resources``
are not asked for again.

``call`` acquires, calls ``fn`` and, when it raises :class:`~swarmlab.RateLimited` (the
provider's 429), retries that call only: after the retry-after the provider gave plus up
to :data:`JITTER` of it (never earlier), or with exponential backoff from
:data:`FIRST_BACKOFF_S` when it gave none, for at most :data:`MAX_CALL_REFUSALS` refusals
in a row (then the ``RateLimited`` reaches the body). A refusal that names a pool or rate
of the run pauses it for everyone until the retry-after has passed. Each refusal counts
in the attempt's ``n_rate_limited``. The task's earlier calls are never made again.

Where: THREAD and ASYNCIO bodies (and HYBRID's tasks routed to them), which run in the
executor's process. A PROCESS or DASK body runs in another process, where the
dispatcher is not: there both raise a ``ConfigError`` saying so (declare the task's units
with ``Task(resources=...)`` instead, held for its whole attempt).
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError, RateLimited
from .scope import Attempt, current

__all__ = ["acquire", "call", "MAX_CALL_REFUSALS", "FIRST_BACKOFF_S", "MAX_CALL_BACKOFF_S", "JITTER"]

#: Refusals of one call in a row after which ``call`` gives up and raises the last
#: ``RateLimited``: as the task-level cap (``core.units.MAX_RATE_LIMITED``), enough to
#: ride out any honest burst, not a provider that never relents.
MAX_CALL_REFUSALS = 50
#: Backoff after a refusal that gave no retry-after: this, doubled at each refusal in a
#: row, capped at :data:`MAX_CALL_BACKOFF_S`.
FIRST_BACKOFF_S = 0.5
MAX_CALL_BACKOFF_S = 60.0
#: Up to this share of the wait is added at random, so that calls refused together do
#: not all come back at the same instant (never subtracted: never earlier than told).
JITTER = 0.1


def _scope(what: str) -> Attempt:
    scope = current(what)
    if scope.channel is None:
        raise ConfigError(
            f"swarmlab.{what}() takes units from the run's dispatcher, which is in the executor's process; this "
            f"body (task {scope.task_id!r}) runs in a worker process (PROCESS, DASK, or HYBRID's process route): "
            "declare the task's units with Task(resources=...) instead (held for its whole attempt), or run it "
            "in THREAD or ASYNCIO mode")
    return scope


class acquire:  # noqa: N801 - used as a function: `with swarmlab.acquire(llm=1):`
    """Hold the units of one call for the block: ``with`` in a THREAD body, ``async
    with`` in an ASYNCIO one (see the module docstring).

    Parameters
    ----------
    **units : float
        Pool and rate names of the run -> units (> 0).

    Raises
    ------
    ConfigError
        Outside an attempt, in a worker process, or a name that is no pool or rate of
        the run (or a need larger than it).
    ExecutorClosedError
        The run stopped while the call waited (or its attempt ended).
    """

    __slots__ = ("units", "_scope", "_grant")

    def __init__(self, **units: float) -> None:
        self.units = units
        self._scope: Attempt | None = None
        self._grant: Any = None

    def _begin(self) -> Attempt:
        if self._grant is not None:
            raise ConfigError("this acquire() is held already; make one per call")
        self._scope = scope = _scope("acquire")
        return scope

    def _waited(self, scope: Attempt, grant: Any) -> None:
        self._grant = grant
        if grant.wait_s > 0:
            scope.add(limit_wait_s=grant.wait_s)

    def __enter__(self) -> acquire:
        scope = self._begin()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise ConfigError("in a coroutine, use `async with swarmlab.acquire(...)`: a plain `with` would block "
                              "the event loop while it waits")
        if self.units:  # no units: nothing to ask, nothing to wait for
            self._waited(scope, scope.channel.ask_blocking(scope.state, scope.attempt, self.units))
        return self

    def __exit__(self, *exc: Any) -> None:
        grant, self._grant = self._grant, None
        if grant is not None:
            self._scope.channel.give_back_threadsafe(grant)

    async def __aenter__(self) -> acquire:
        scope = self._begin()
        if self.units:
            self._waited(scope, await scope.channel.ask(scope.state, scope.attempt, self.units))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        grant, self._grant = self._grant, None
        if grant is not None:
            self._scope.channel.give_back(grant)


def _units(units: Mapping[str, float] | None) -> dict[str, float]:
    if units is None:
        return {}
    if not isinstance(units, Mapping):
        raise ConfigError(f"call(units=...) takes a mapping of pool and rate names to units; got {units!r}")
    return dict(units)


def _delay(exc: RateLimited, refusals: int) -> float:
    """How long to wait after the ``refusals``-th refusal in a row: the provider's word
    or the backoff, plus the jitter."""
    base = exc.retry_after_s
    if base is None:
        base = min(MAX_CALL_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (refusals - 1))
    return base * (1.0 + JITTER * random.random())


def _refused(scope: Attempt, exc: RateLimited, refusals: int, pause: Callable[[str, float], Any]) -> float:
    scope.add(n_rate_limited=1)
    if refusals >= MAX_CALL_REFUSALS:
        raise exc
    delay = _delay(exc, refusals)
    if exc.resource is not None:
        pause(exc.resource, exc.retry_after_s if exc.retry_after_s is not None else delay)
    return delay


def call(fn: Callable[..., Any], *args: Any, units: Mapping[str, float] | None = None, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` within the units of one call, retried alone after a
    provider's refusal (see the module docstring).

    In an ASYNCIO body it returns an awaitable (``await swarmlab.call(...)``; ``fn`` may
    be a coroutine function or a plain one); in a THREAD body it runs the call and
    returns its value (``fn`` a plain function).

    Parameters
    ----------
    fn : callable
        The call, e.g. a client's request method.
    *args, **kwargs
        Its arguments.
    units : mapping, optional
        Pool and rate names -> units, as :class:`acquire` takes them (None: none, and
        the call is still retried after refusals).
    """
    scope = _scope("call")
    wanted = _units(units)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if inspect.iscoroutinefunction(fn):
            raise ConfigError(f"call({fn!r}) is a coroutine function: await swarmlab.call(...) in an ASYNCIO body, "
                              "or give a plain function in a THREAD body") from None
        return _call_blocking(scope, fn, args, kwargs, wanted)
    return _call_async(scope, fn, args, kwargs, wanted)


def _call_blocking(scope: Attempt, fn: Callable, args: tuple, kwargs: dict, wanted: dict) -> Any:
    refusals = 0
    while True:
        with acquire(**wanted):
            try:
                return fn(*args, **kwargs)
            except RateLimited as e:
                refusals += 1
                delay = _refused(scope, e, refusals, scope.channel.pause_threadsafe)
        time.sleep(delay)


async def _call_async(scope: Attempt, fn: Callable, args: tuple, kwargs: dict, wanted: dict) -> Any:
    refusals = 0
    while True:
        async with acquire(**wanted):
            try:
                value = fn(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
                return value
            except RateLimited as e:
                refusals += 1
                delay = _refused(scope, e, refusals, scope.channel.pause)
        await asyncio.sleep(delay)
