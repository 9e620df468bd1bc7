"""The channel through which a body in this process takes units per call
(``swarmlab.acquire``, ``swarmlab.call``) from the run's dispatcher.

THREAD and ASYNCIO bodies (and HYBRID's routes to them) run in the executor's process,
so they reach the dispatcher through this object, set in their attempt's scope
(:mod:`swarmlab.scope`). Everything that touches the dispatcher runs on the loop
thread: a coroutine body awaits a future there; a THREAD body hands its request to the
loop (``call_soon_threadsafe``) and blocks on a :class:`concurrent.futures.Future`, so
a waiting coroutine holds no thread and a waiting thread holds only itself.

Grants given while a call waits (units given back, a bucket refilled, a pause over)
are handed to their waiters by the engine's pump (:meth:`CallChannel.resolve`), which
runs after every change of the dispatcher's state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.calls import Calls, Grant
from ..errors import ExecutorClosedError

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["CallChannel"]


class CallChannel:
    """Per-call units for the bodies of one real-time run (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._calls: Calls | None = None
        # (task id, attempt, granted at, held s, units) of each call given back: what a
        # replay needs to make the calls again (record.meta["calls"])
        self.log: list[tuple[str, int, float, float, dict[str, float]]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.engine.loop

    def _gate(self) -> Calls:
        if self._calls is None:
            self._calls = self.engine.d.membership.use_units().use_calls()
        return self._calls

    # ------------------------------------------------------------------ on the loop
    def _ask(self, st: Any, attempt: int, wanted: Mapping[str, Any], ticket: Any) -> Grant | None:
        """Ask now, on the loop; the grant (given or waiting), or None when the request
        was refused (the ticket then holds the error)."""
        engine = self.engine
        if engine.closed:
            ticket.set_exception(ExecutorClosedError("the executor has stopped: no call units are given"))
            return None
        try:
            g = self._gate().ask(st, attempt, wanted, engine.now(), ticket)
        except BaseException as e:  # noqa: BLE001 - the body gets it
            ticket.set_exception(e)
            return None
        if g.granted_s is not None:
            ticket.set_result(g)
        else:
            engine.rearm()  # a bucket or a pause may free it by time alone
        return g

    async def ask(self, st: Any, attempt: int, wanted: Mapping[str, Any]) -> Grant:
        """The units of one call, from a coroutine on the loop: waits without a thread."""
        fut = self.loop.create_future()
        g = self._ask(st, attempt, wanted, fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if g is not None:  # cancelled while waiting, or just given: either way, no call is made
                self.give_back(g)
            raise

    def ask_blocking(self, st: Any, attempt: int, wanted: Mapping[str, Any]) -> Grant:
        """The units of one call, from a THREAD body: blocks this thread until given."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self._ask, st, attempt, wanted, fut)
        return fut.result()

    def give_back(self, g: Grant) -> None:
        """The call is over (from the loop thread)."""
        if self._calls is not None:
            now = self.engine.now()
            if g.granted_s is not None:
                self.log.append((g.st.id, g.attempt, g.granted_s, now - g.granted_s, dict(g.pool + g.rate)))
            self._calls.give_back(g, now)
            self.engine.pump_soon()

    def give_back_threadsafe(self, g: Grant) -> None:
        self.loop.call_soon_threadsafe(self.give_back, g)

    def pause(self, resource: str, seconds: float) -> bool:
        """A provider refused a call for ``resource``: nothing needing it starts, and no
        call needing it is given, for ``seconds`` (on the loop)."""
        engine = self.engine
        paused = engine.d.membership.use_units().pause(resource, engine.now() + seconds)
        if paused:
            engine.rearm()
        return paused

    def pause_threadsafe(self, resource: str, seconds: float) -> None:
        self.loop.call_soon_threadsafe(self.pause, resource, seconds)

    # ------------------------------------------------------------------ for the engine
    def resolve(self) -> None:
        """Hand the grants given since the last look to their waiters, and refuse the
        calls withdrawn with their attempt."""
        calls = self._calls
        if calls is None:
            return
        if calls.dropped:
            dropped, calls.dropped = calls.dropped, []
            for g, why in dropped:
                if not g.ticket.done():
                    g.ticket.set_exception(why if why is not None else ExecutorClosedError(
                        "the attempt ended while this call waited for its units"))
        if not calls.granted:
            return
        for g in calls.take_granted():
            ticket = g.ticket
            if ticket.done():  # its waiter left (cancelled): the units go back
                calls.give_back(g, self.engine.now())
            else:
                ticket.set_result(g)

    def refuse(self, grants: list[Grant], why: str) -> None:
        """Calls that will not be given (their attempt ended, the run stopped)."""
        for g in grants:
            if not g.ticket.done():
                g.ticket.set_exception(ExecutorClosedError(why))

    def close(self) -> None:
        """The run stops: every call still waiting is refused."""
        calls = self._calls
        if calls is not None:
            waiting = list(calls.waiting)
            for g in waiting:
                calls.give_back(g, self.engine.now())
            self.refuse(waiting, "the executor stopped while this call waited for its units")
