"""The lock on a live journal: held while its writer (a run's :class:`Journal`) or a
:func:`swarmlab.resume` of it lives, so a second resume cannot run the same tasks again
and ``runs list`` tells a run still going (``running``) from one that was killed
(``interrupted``).

An OS file lock (``fcntl.flock``, exclusive, on the journal file itself): the kernel
drops it when its process ends, however it ends (``kill -9`` included), so a lock is
never left stale. Where ``fcntl`` does not exist (Windows), nothing is locked and
:func:`journal_held` is always False: a run still going is listed as interrupted there
and two resumes are not kept apart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the module docstring says what that means)
    fcntl = None  # type: ignore[assignment]

__all__ = ["try_lock", "journal_held", "LOCKS"]

#: Whether this platform locks journals at all.
LOCKS = fcntl is not None


def try_lock(f: IO) -> bool:
    """Take the exclusive lock on the open file ``f`` without waiting: True when taken
    (or when the platform has no locks), False when another open file holds it. The
    lock lasts until ``f`` is closed or its process ends."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def journal_held(path: str | Path) -> bool:
    """Whether a live process (this one included, through another open file) holds the
    journal at ``path``: its run is running or being resumed. False without a file."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock taken just now
    return False
