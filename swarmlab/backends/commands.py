"""Commands a task body starts that die with its attempt: :func:`command`,
:func:`acommand` and :func:`popen`.

A command started with ``subprocess.Popen`` from a THREAD or ASYNCIO body outlives its
attempt: a thread cannot be killed and a cancelled coroutine leaves its child running,
through ``stop()`` and after swarmlab exits. A command started here instead leads a
process group (a session) of its own, which is

- a child of the attempt's scope (:meth:`swarmlab.scope.Attempt.adopt`): the whole group
  is SIGKILLed when the attempt ends, however it ends (its body returned or raised, a
  timeout, a cancel, ``stop()``), in every mode;
- guarded by the keeper of :mod:`swarmlab.backends.reaper` from before it runs anything:
  the group is killed if swarmlab itself is killed, even by ``kill -9`` (on Linux the
  kernel also kills the command itself). In a PROCESS worker the worker's own keeper
  does it when the worker is killed (its timeout, a crash).

:class:`~swarmlab.CommandRunner` runs its commands this way too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..scope import Attempt, attempt_now
from . import reaper

__all__ = ["Child", "acommand", "aspawn", "command", "popen", "spawn"]

#: Keywords that would take the command out of the group swarmlab kills, or give it a
#: deadline of its own: the attempt's timeout (``Task(timeout=...)``) is its deadline.
_REFUSED = ("shell", "start_new_session", "process_group", "preexec_fn", "timeout")


class Child:
    """A command's process group, started by :func:`spawn` or :func:`aspawn`: killed with
    the attempt it was started in (``scope``; None outside one), or by :meth:`end` once
    the command has exited."""

    __slots__ = ("done", "pid", "scope")

    def __init__(self, pid: int, scope: Attempt | None) -> None:
        self.pid = pid
        self.scope = scope
        self.done = False
        if scope is not None and not scope.adopt(self):
            self.kill()  # started after its attempt ended (a THREAD body abandoned at its timeout)

    def kill(self) -> None:
        """SIGKILL the whole group (the command and whatever it started) and stop guarding it."""
        if self.done:
            return
        self.done = True
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already
        reaper.release(self.pid)

    def end(self) -> None:
        """The command exited, or its caller gives up on it (an exception, a cancellation):
        what is left of its group is killed now, not at the end of the attempt."""
        if self.scope is not None:
            self.scope.disown(self)
        self.kill()


def _check(argv: Sequence[str], kwargs: dict[str, Any], what: str) -> list[str]:
    if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence) or not argv or not all(
            isinstance(a, (str, bytes, os.PathLike)) for a in argv):
        raise ConfigError(f"swarmlab.{what} takes an argv list of str, never a shell string; got {argv!r}: "
                          "pass ['prog', 'arg', ...]")
    bad = sorted(k for k in _REFUSED if k in kwargs)
    if bad:
        raise ConfigError(f"swarmlab.{what} does not take {', '.join(bad)}: the command runs in a process "
                          "group of its own, killed when its attempt ends, and its deadline is the attempt's "
                          "(Task(timeout=...)); drop them")
    return list(argv)


def spawn(argv: list[str], **kwargs: Any) -> tuple[subprocess.Popen, Child]:
    """Start ``argv`` leading a session of its own, guarded by the keeper before it runs
    anything, and the child of the running attempt (``kwargs`` checked by the caller)."""
    scope = attempt_now()
    with reaper.spawning() as preexec:
        # preexec only writes to a pipe and calls prctl (reaper.spawning): safe beside threads
        proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=preexec, **kwargs)  # noqa: PLW1509
        reaper.guard(proc.pid)
    return proc, Child(proc.pid, scope)


async def aspawn(argv: list[str], **kwargs: Any) -> tuple[asyncio.subprocess.Process, Child]:
    """:func:`spawn` through ``asyncio.create_subprocess_exec``."""
    scope = attempt_now()
    with reaper.spawning() as preexec:
        proc = await asyncio.create_subprocess_exec(*argv, start_new_session=True, preexec_fn=preexec, **kwargs)
        reaper.guard(proc.pid)
    return proc, Child(proc.pid, scope)


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen(argv, **kwargs)``, killed with its whole process group when the
    running attempt ends (returned, raised, timed out, cancelled, stopped) or swarmlab
    is killed.

    For a command to talk to while it runs; :func:`command` runs one to its end. Outside
    an attempt it is only guarded against swarmlab being killed.

    Parameters
    ----------
    argv : list of str
        The program and its arguments, never a shell string.
    **kwargs
        As ``subprocess.Popen`` takes them, but for ``shell``, ``start_new_session``,
        ``process_group``, ``preexec_fn`` and ``timeout``.

    Raises
    ------
    ConfigError
        A shell string, or a keyword it does not take.
    OSError
        The program could not be started (as ``subprocess.Popen`` raises it).

    Examples
    --------
    >>> import swarmlab
    >>> def body():
    ...     server = swarmlab.popen(["python", "-m", "http.server", "0"])
    ...     ...  # talk to it; it is killed when the attempt ends
    """
    return spawn(_check(argv, kwargs, "popen"), **kwargs)[0]


def command(argv: Sequence[str], *, input: bytes | str | None = None, capture_output: bool = False,
            check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command to its end, as ``subprocess.run`` does, in a process group that dies
    with the running attempt (and with swarmlab, even by ``kill -9``).

    For THREAD (and PROCESS) bodies; a coroutine awaits :func:`acommand`. Its deadline is
    the attempt's (``Task(timeout=...)``): when the attempt times out, is cancelled or
    stopped, the group is killed (a THREAD body, abandoned, then sees the command end
    with ``-9``). What the command left running in its group when it exits is killed too.

    Parameters
    ----------
    argv : list of str
        The program and its arguments, never a shell string.
    input, capture_output, check
        As ``subprocess.run`` takes them.
    **kwargs
        As ``subprocess.Popen`` takes them (``text``, ``cwd``, ``env``, ``stdout``...), but
        for ``shell``, ``start_new_session``, ``process_group``, ``preexec_fn`` and
        ``timeout``.

    Returns
    -------
    subprocess.CompletedProcess

    Raises
    ------
    ConfigError
        A shell string, or a keyword it does not take.
    subprocess.CalledProcessError
        With ``check=True``, a non-zero exit.

    Examples
    --------
    >>> import swarmlab
    >>> def body():
    ...     return swarmlab.command(["echo", "hi"], capture_output=True, text=True).stdout
    """
    argv = _check(argv, kwargs, "command")
    if input is not None:
        if "stdin" in kwargs:
            raise ConfigError("swarmlab.command takes stdin or input, not both: drop one")
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        if "stdout" in kwargs or "stderr" in kwargs:
            raise ConfigError("swarmlab.command takes capture_output or stdout/stderr, not both: drop one")
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    proc, child = spawn(argv, **kwargs)
    try:
        out, err = proc.communicate(input)
    finally:  # an exception (KeyboardInterrupt) or the exit: nothing of the command survives
        child.end()
        with proc:  # its pipes closed, the process reaped (at once: it was killed)
            pass
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


async def acommand(argv: Sequence[str], *, input: bytes | None = None, capture_output: bool = False,
                   check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
    """:func:`command` for coroutines (ASYNCIO bodies): ``asyncio.create_subprocess_exec``
    run to its end, in a process group that dies with the running attempt and with
    swarmlab. A cancellation (the attempt's timeout, a cancel, ``stop()``) kills the
    group before it is raised on.

    Parameters, returns and raises as :func:`command` (``input`` is bytes; ``text`` is
    not taken, as ``asyncio`` streams are bytes).
    """
    argv = _check(argv, kwargs, "acommand")
    if "text" in kwargs or "universal_newlines" in kwargs:
        raise ConfigError("swarmlab.acommand returns bytes, as asyncio subprocesses do: drop text= and decode "
                          "the output")
    if input is not None:
        kwargs["stdin"] = asyncio.subprocess.PIPE
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = asyncio.subprocess.PIPE
    proc, child = await aspawn(argv, **kwargs)
    try:
        out, err = await proc.communicate(input)
    finally:  # cancelled (the attempt stopped) or exited: nothing of the command survives
        child.end()
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, argv, out, err)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
