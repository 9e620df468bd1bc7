"""Views that refresh themselves from the running event loop.

A notebook's kernel (and a Voilà page's) runs one event loop; a live view updates its
widgets by trait assignment from a task on that loop, a few times a second, from what
was recorded since its last look. Nothing writes ``with output:`` from another thread
(ipykernel 7 drops such output), and the loop stays free between looks, so the run
being watched keeps it.
"""

from __future__ import annotations

import asyncio

__all__ = ["DRAW_SHARE", "Polling"]

#: A live chart is redrawn at most once per this many times its last drawing cost, so that
#: the chart of a big run (its frames, then the drawing) leaves the run most of the loop.
DRAW_SHARE = 4


class Polling:
    """A view that polls from a task on the running loop: ``start`` and ``stop`` it.

    A subclass defines :meth:`poll`, one look at what it follows. The poller calls it,
    then waits the seconds it returned, until it returns None.
    """

    _poller: asyncio.Task | None = None

    def poll(self) -> float | None:
        """One look (update the widgets); returns the seconds to wait before the next
        look, 0 to look again at once, or None when there is nothing more to follow."""
        raise NotImplementedError

    def start(self) -> None:
        """Poll on the running loop (nothing happens without one)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._poller is None or self._poller.done():
            self._poller = loop.create_task(self._follow())

    def stop(self) -> None:
        """Stop polling (what is followed goes on)."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    @property
    def polling(self) -> asyncio.Task | None:
        """The task that polls (None before :meth:`start` or after :meth:`stop`): await
        it to wait until the view has seen the end of what it follows."""
        return self._poller

    async def _follow(self) -> None:
        while (wait_s := self.poll()) is not None:
            await asyncio.sleep(wait_s)
