"""Processes the run's bodies started and left alive: what ``stop()`` warns about.

Swarmlab kills what it starts: PROCESS workers, and the commands bodies start through
``swarmlab.command`` / ``acommand`` / ``popen`` (:mod:`swarmlab.backends.commands`). A
body that starts one with ``subprocess.Popen`` or ``asyncio.create_subprocess_exec``
from a THREAD or ASYNCIO attempt leaves it running after the attempt, ``stop()`` and
the process. ``stop()`` cannot tell which body started it, nor whether it should
outlive the run, so it kills nothing it did not start: it names what it leaves (a log
warning and a ``left_alive`` event). What was a descendant of the process before the
run started is not the run's, and is not named; nor is a :mod:`multiprocessing` child of
this process, which multiprocessing itself ends or joins at exit (a Dask nanny of a
``LocalCluster`` in the same kernel restarts so the worker a run's body lost).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable

import psutil

from ..backends import reaper

__all__ = ["LEFTOVER_GRACE_S", "descendants", "left_alive", "warn"]

log = logging.getLogger("swarmlab")

#: Seconds what was killed at the shutdown (workers, commands of stopped attempts) gets
#: to be gone before what still runs is named: SIGKILL takes milliseconds, a loaded
#: machine may take longer, and only a run that leaves something waits this long.
LEFTOVER_GRACE_S = 2.0
# Between two looks at what is still alive while waiting.
_POLL_S = 0.05

# Helpers the standard library starts for multiprocessing (Dask's LocalCluster uses it):
# they are shared by the process, not started by a body.
_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def descendants() -> set[int]:
    """The pids of this process's descendants now."""
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _ours(p: psutil.Process, keeper: int | None, guarded: frozenset[int]) -> bool:
    """Started by swarmlab itself: the keeper, a command it guards, a multiprocessing helper."""
    try:
        if p.pid == keeper or os.getpgid(p.pid) in guarded:
            return True
        return any(h in part for part in p.cmdline() for h in _HELPERS)
    except (psutil.Error, OSError):
        return True  # gone meanwhile


def _managed() -> set[int]:
    """This process's :mod:`multiprocessing` children: multiprocessing joins or terminates
    them at exit, so none outlives the process unseen; a Dask nanny of a ``LocalCluster`` in
    this process starts its workers so, and starts one again when the worker dies in a run."""
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


async def left_alive(before: set[int]) -> list[tuple[int, str]]:
    """``(pid, command line)`` of each descendant that was not one in ``before``, that
    swarmlab did not start, and that still runs after :data:`LEFTOVER_GRACE_S`."""
    keeper, guarded, managed = reaper.keeper_pid(), reaper.guarded(), _managed()
    try:
        procs = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    except psutil.Error:
        return []
    procs = [p for p in procs if _running(p) and not _ours(p, keeper, guarded) and p.pid not in managed]
    loop = asyncio.get_running_loop()
    end = loop.time() + LEFTOVER_GRACE_S
    while procs and loop.time() < end:
        await asyncio.sleep(_POLL_S)
        procs = [p for p in procs if _running(p)]
    out = []
    for p in procs:
        try:
            out.append((p.pid, " ".join(p.cmdline()) or p.name()))
        except psutil.Error:
            pass
    return out


async def warn(before: set[int], emit: Callable[[str, str | None, str | None], None]) -> None:
    """Name what :func:`left_alive` finds: one log warning, and one ``left_alive`` event
    (``emit(kind, task_id, detail)``, the Host's) whose detail lists them."""
    left = await left_alive(before)
    if not left:
        return
    listed = "; ".join(f"pid {pid}: {cmd}" for pid, cmd in left)
    emit("left_alive", None, listed)
    log.warning("swarmlab: stop() leaves %d process(es) alive that it did not start (task bodies started them "
                "with subprocess or asyncio): %s; start commands with swarmlab.command, swarmlab.acommand or "
                "swarmlab.popen so that they die with their attempt, or end them yourself", len(left), listed)
