"""``swarmlab.run``: run a coroutine from sync code, also inside a running event loop.

With no running loop it is ``asyncio.run``. Inside one (a notebook cell, where the
kernel's loop is running) it hands the coroutine to an event loop that swarmlab runs in
a daemon thread of its own and blocks until the result is there. Never nest_asyncio.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")

_lock = threading.Lock()
_portal: asyncio.AbstractEventLoop | None = None


def _portal_loop() -> asyncio.AbstractEventLoop:
    global _portal
    with _lock:
        if _portal is None or _portal.is_closed():
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            threading.Thread(target=serve, name="swarmlab-portal", daemon=True).start()
            started.wait()
            _portal = loop
        return _portal


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion and return its result (or raise its exception).

    Examples
    --------
    >>> async def answer():
    ...     return 42
    >>> run(answer())
    42
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"swarmlab.run takes a coroutine (call the async function); got {coro!r}")
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    loop = _portal_loop()
    if running is loop:
        coro.close()
        raise RuntimeError(
            "swarmlab.run was called from a coroutine that swarmlab.run is running; "
            "await the coroutine instead"
        )
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
