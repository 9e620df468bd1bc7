"""Process groups that die with swarmlab, even when swarmlab dies by ``kill -9``.

Swarmlab runs each PROCESS worker and each :class:`~swarmlab.CommandRunner` command as
the leader of a process group (a session) of its own, so that one ``killpg`` takes
down everything it started. Two things kill those groups when swarmlab itself is killed
without a chance to clean up:

- the **keeper**: one small stdlib-only process per swarmlab process, started while a
  group is guarded and told to quit when none is. Swarmlab tells it which groups to
  guard over a pipe (a command registers itself from its ``preexec_fn``, before it runs
  anything); when the pipe reads EOF, or its parent changes (swarmlab died), it
  SIGKILLs every guarded group, then exits. It lives in a session of its own, so a
  Ctrl-C or a kill of swarmlab's group leaves it to do its job. It works on every POSIX
  system.
- on Linux, ``PR_SET_PDEATHSIG``: the worker or the command is SIGKILLed by the
  kernel when the thread that started it (the event loop's) ends, even if the keeper
  was killed too. It covers that process only, not what it started: that is the
  keeper's job.

Elsewhere (no ``prctl``) the keeper alone does it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

__all__ = ["guard", "release", "spawning", "die_with_parent", "guarded", "keeper_pid"]

log = logging.getLogger("swarmlab")

# Seconds between the keeper's checks of its parent pid: the bound on how long guarded
# groups outlive a swarmlab process whose pipe was inherited by a forked child (EOF then
# never comes); an idle check twice a second costs nothing.
KEEPER_POLL_S = 0.5
# Seconds the keeper gets to exit once told to; it exits at once, this bounds a stuck one.
KEEPER_EXIT_S = 2.0
_PR_SET_PDEATHSIG = 1

# The interpreter at import time: tests (and users) may point sys.executable elsewhere.
_PYTHON = sys.executable

_KEEPER = r"""
import os, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
parent, fd, groups, buf = int(sys.argv[1]), sys.stdin.fileno(), set(), b""
while True:
    if not select.select([fd], [], [], float(sys.argv[2]))[0]:
        if os.getppid() != parent:  # checked only when nothing is left to read
            break
        continue
    data = os.read(fd, 65536)
    if not data:
        break
    *lines, buf = (buf + data).split(b"\n")
    if b"q" in lines:  # told to quit: nothing is left to guard
        groups.clear()
        break
    for line in lines:
        (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))
for g in groups:
    try:
        os.killpg(g, signal.SIGKILL)
    except OSError:
        pass
"""

_lock = threading.Lock()
_keeper: subprocess.Popen | None = None
_groups: set[int] = set()
_spawning = 0  # spawns in progress: the keeper stays up for them
_warned = False


def _start_keeper() -> subprocess.Popen | None:
    global _warned
    try:
        return subprocess.Popen(
            [_PYTHON, "-I", "-S", "-c", _KEEPER, str(os.getpid()), str(KEEPER_POLL_S)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, bufsize=0, start_new_session=True,
        )
    except OSError as e:
        if not _warned:
            _warned = True
            log.warning("swarmlab: the process-group keeper could not start (%s); groups will not "
                        "be killed if this process is killed with SIGKILL", e)
        return None


def _tell(line: bytes) -> None:
    """Send one line to the keeper (under the lock); a keeper (re)started on the way is
    sent the whole set of guarded groups instead."""
    global _keeper
    for _ in range(2):  # a keeper found dead (someone killed it) is replaced once
        if _keeper is None:
            _keeper = _start_keeper()
            if _keeper is None:
                return
            line = b"".join(b"+%d\n" % g for g in sorted(_groups))
        try:
            if line:
                _keeper.stdin.write(line)
            return
        except OSError:
            _close_keeper()


def _close_keeper() -> None:
    global _keeper
    k, _keeper = _keeper, None
    if k is None:
        return
    try:
        # "q": quit guarding nothing (a command that failed to start may have registered
        # itself from its preexec_fn, and is gone); a bare EOF means this process died
        k.stdin.write(b"q\n")
        k.stdin.close()
        k.wait(KEEPER_EXIT_S)
    except (OSError, subprocess.TimeoutExpired):
        k.kill()
        k.wait()


def _close_if_idle() -> None:
    if not _groups and not _spawning:
        _close_keeper()


def guard(pgid: int) -> None:
    """Kill process group ``pgid`` if this process dies before :func:`release` of it."""
    with _lock:
        _groups.add(pgid)
        _tell(b"+%d\n" % pgid)


def release(pgid: int) -> None:
    """Stop guarding ``pgid`` (it was killed or reaped); the keeper exits with the last."""
    with _lock:
        if pgid not in _groups:
            return
        _groups.discard(pgid)
        if _groups or _spawning:
            _tell(b"-%d\n" % pgid)
        else:
            _close_keeper()


@contextlib.contextmanager
def spawning() -> Iterator[Callable[[], None] | None]:
    """For starting a command that leads a session of its own: yields a ``preexec_fn``
    that, in the child before it runs anything, registers it with the keeper (so no
    moment passes in which the command is unguarded) and, on Linux, asks for
    ``PR_SET_PDEATHSIG``. Call :func:`guard` with its pid once started.

    The function only writes to a pipe and calls ``prctl``, everything looked up
    beforehand; None when there is neither a keeper nor ``prctl``.
    """
    global _spawning
    with _lock:
        _spawning += 1
        _tell(b"")
        fd = _keeper.stdin.fileno() if _keeper is not None else None
    try:
        yield _preexec(fd)
    finally:
        with _lock:
            _spawning -= 1
            _close_if_idle()


def _preexec(fd: int | None) -> Callable[[], None] | None:
    prctl = _prctl()
    if prctl is None and fd is None:
        return None
    parent, sig = os.getpid(), int(signal.SIGKILL)
    getpid, getppid, write, exit_ = os.getpid, os.getppid, os.write, os._exit

    def preexec() -> None:
        if fd is not None:
            try:
                write(fd, b"+%d\n" % getpid())  # its pid is its group's id: it leads a session
            except OSError:
                pass  # the keeper is gone; guard() after the start starts a new one
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
            if getppid() != parent:
                exit_(1)

    return preexec


def keeper_pid() -> int | None:
    """The pid of this process's keeper, None while none runs."""
    with _lock:
        return _keeper.pid if _keeper is not None else None


def guarded() -> frozenset[int]:
    """The process groups guarded now."""
    with _lock:
        return frozenset(_groups)


_inherited: list[subprocess.Popen] = []


def _forget_in_child() -> None:
    """A forked child guards nothing of its parent's (a lock another thread held at the
    fork is new). The keeper's pipe stays open in it: a command's ``preexec_fn`` writes
    to it, and a keeper that sees no EOF because a forked child holds the pipe still
    sees its parent go."""
    global _keeper, _lock
    _lock = threading.Lock()
    if _keeper is not None:
        _inherited.append(_keeper)  # the parent's child, not ours: never waited on, never warned about
    _keeper = None
    _groups.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent: int) -> bool:
    """Linux: have the kernel SIGKILL this process when its parent's thread that
    started it ends; exit at once if ``parent`` is already gone. False elsewhere."""
    prctl = _prctl()
    if prctl is None:
        return False
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above: no signal will come
        os._exit(1)
    return True
