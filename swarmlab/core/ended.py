"""What a run that spills (``ParallelExecutor(spill=...)``) remembers of the tasks it
forgot: how each ended, by a 64-bit hash of its id, in 9 bytes a task.

A spilling run drops an ended task's state and rows from memory, yet it must still
refuse a duplicate id, wire a new task to a dependency that ended long ago, and say
how that dependency ended. :class:`EndedTasks` keeps, per forgotten id, its hash and a
one-byte status code: a small dict of the most recent ones, merged now and then into
one sorted pair of numpy arrays (found by binary search). Python's ``hash`` of a str is
stable within a process, which is all this needs; two ids of one run share a hash with
a probability of about n²/2⁶⁵ (3·10⁻⁶ at ten million).

numpy is imported on the first merge, so a run that spills fewer tasks than
:data:`EndedTasks.BUFFER` never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..model import TaskStatus

__all__ = ["EndedTasks", "STATUS_CODES"]

#: A terminal status and its one-byte code.
STATUS_CODES: dict[TaskStatus, int] = {s: i for i, s in enumerate(TaskStatus)}
_BY_CODE = list(TaskStatus)


class EndedTasks:
    """Forgotten ended tasks: ``add(id, status)``, ``get(id)`` -> status or None."""

    #: Recent ids kept in a dict before they are merged into the sorted arrays; a merge
    #: also waits until the dict holds a sixteenth of the arrays, so each id is copied a
    #: bounded number of times however long the run.
    BUFFER = 65_536

    __slots__ = ("_recent", "_keys", "_codes")

    def __init__(self) -> None:
        self._recent: dict[int, int] = {}
        self._keys: Any = None  # numpy int64, sorted
        self._codes: Any = None  # numpy uint8, in the order of _keys

    def __len__(self) -> int:
        return len(self._recent) + (0 if self._keys is None else len(self._keys))

    @property
    def nbytes(self) -> int:
        """Bytes held by the merged arrays (the recent dict is bounded by BUFFER)."""
        return 0 if self._keys is None else int(self._keys.nbytes + self._codes.nbytes)

    def add(self, tid: str, status: TaskStatus) -> None:
        recent = self._recent
        recent[hash(tid)] = STATUS_CODES[status]
        if len(recent) >= self.BUFFER and (self._keys is None or 16 * len(recent) >= len(self._keys)):
            self._merge()

    def get(self, tid: str) -> TaskStatus | None:
        h = hash(tid)
        code = self._recent.get(h)
        if code is None and self._keys is not None:
            keys = self._keys
            i = int(keys.searchsorted(h))
            if i < len(keys) and keys[i] == h:
                code = int(self._codes[i])
        return None if code is None else _BY_CODE[code]

    def first_of(self, tids: Sequence[str]) -> str | None:
        """The first of ``tids`` that is here, or None (one search for the whole batch)."""
        recent = self._recent
        hashes = [hash(t) for t in tids]
        hit = [h in recent for h in hashes]
        if self._keys is not None and not all(hit):
            import numpy as np

            keys = self._keys
            hs = np.array(hashes, dtype=np.int64)
            at = keys.searchsorted(hs).clip(max=len(keys) - 1)
            hit = [a or b for a, b in zip(hit, (keys[at] == hs).tolist())]
        return next((t for t, h in zip(tids, hit) if h), None)

    def _merge(self) -> None:
        import numpy as np

        recent = self._recent
        keys = np.fromiter(recent.keys(), dtype=np.int64, count=len(recent))
        codes = np.fromiter(recent.values(), dtype=np.uint8, count=len(recent))
        order = keys.argsort()
        keys, codes = keys[order], codes[order]
        if self._keys is not None:  # ids are unique per run: no key is in both
            at = self._keys.searchsorted(keys)
            keys, codes = np.insert(self._keys, at, keys), np.insert(self._codes, at, codes)
        self._keys, self._codes = keys, codes
        recent.clear()
