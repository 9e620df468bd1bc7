"""The tasks one resource holds back, best rank first.

A task that cannot get a resource's units is held off its agent's queue on that
resource's list (:mod:`swarmlab.core.units`) until they come back. When a resource
binds for long, most waiting tasks are on its list (a pool of 5 units for 10 agents:
half of 100,000 queued tasks), and the list is taken from the front, where the best
ranked wait. A plain sorted list moves every entry behind the first at each such
removal, so a run's cost grew with the square of its tasks; here the removed prefix is
cut off lazily, as an agent's queue does (``AgentSlot.pop_head``): taking the first
entry costs O(1) amortized, inserting one in rank order O(log n) to find its place
(a new hold nearly always ranks last).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterator
from typing import Any

__all__ = ["Held"]

#: The removed prefix is cut off once it is this long and the larger half of the list
#: (or the list is empty): each entry is moved a bounded number of times.
_CUT_AT = 256


def _rank(entry: tuple) -> tuple:
    return entry[0], entry[1]


class Held:
    """Entries ``(key, seq, task state)`` in rank order (``key``, then ``seq``): the
    entries from :attr:`head` on are the list; ``len``, iteration and indexing by
    position (:meth:`at`, :meth:`remove_at`, 0 the best) see those alone."""

    __slots__ = ("items", "head")

    def __init__(self) -> None:
        self.items: list[tuple] = []
        self.head = 0

    def __len__(self) -> int:
        return len(self.items) - self.head

    def __iter__(self) -> Iterator[tuple]:
        items = self.items  # (by index: islice would step through the removed prefix)
        for i in range(self.head, len(items)):
            yield items[i]

    def add(self, entry: tuple) -> None:
        """Insert ``entry`` in rank order."""
        items = self.items
        if not items or _rank(entry) >= _rank(items[-1]):
            items.append(entry)
        else:
            insort(items, entry, self.head, key=_rank)

    def at(self, i: int) -> tuple:
        """The entry at position ``i`` (0: the best)."""
        return self.items[self.head + i]

    def remove_at(self, i: int) -> None:
        """Remove the entry at position ``i``: the first in O(1) amortized."""
        if i:
            del self.items[self.head + i]
            return
        h = self.head + 1
        items = self.items
        if h == len(items):
            items.clear()
            h = 0
        elif h >= _CUT_AT and h + h > len(items):
            del items[:h]
            h = 0
        self.head = h

    def remove(self, st: Any) -> None:
        """Remove the entry of task state ``st`` (the first one found, best first);
        nothing when it has none."""
        items, head = self.items, self.head
        for i in range(head, len(items)):
            if items[i][2] is st:
                self.remove_at(i - head)
                return
