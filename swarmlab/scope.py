"""The attempt a task body runs in: what ``swarmlab.report(**values)`` adds to and what
``swarmlab.current_devices()`` reads.

Every backend runs a body inside an :class:`Attempt` scope, a context variable set for
the body alone: THREAD and PROCESS (and DASK, which runs as PROCESS does) call the body
in a copy of a context with the variable set (:func:`run_in`); ASYNCIO sets it in its
worker's task around the body and resets it after (:func:`enter`, :func:`leave`), so
nothing of one attempt reaches the next. When the body has returned or raised, the
backend ends the scope (:meth:`Attempt.end`) and hands what was reported to the
executor with the attempt's outcome; from a PROCESS or DASK worker the values travel
back in the answer itself (:mod:`swarmlab.backends.worker`).

What a body starts: asyncio tasks it creates copy its context, so they report into its
attempt. A raw ``threading.Thread`` starts with an empty context: ``report()`` there is
outside any attempt (a ``ConfigError``) unless the thread runs in the body's context
(``threading.Thread(target=contextvars.copy_context().run, args=(fn,))``, or
``loop.run_in_executor``, which does not copy it either: use ``asyncio.to_thread``).
Values reported once the attempt has ended (a thread it left running) are refused.

What is spent as it is spent: an attempt may have a ``sink``, a callable the backend
sets from its host when the run journals (:mod:`swarmlab.store.journal`), which is
handed each report (and each :meth:`Attempt.add`) as it happens, so that a kill that
cuts the attempt short does not lose what it spent (``resume`` counts it). Without a
journal the sink is None and a report costs nothing more.

A body that never reports pays one small object per attempt: the dict of values is made
by the first ``report()``.

Commands a body starts through :mod:`swarmlab.backends.commands` (``swarmlab.command``,
``acommand``, ``popen``) are the attempt's children (:meth:`Attempt.adopt`): they are
killed when it ends, however it ends: its body returned or raised (:meth:`Attempt.end`),
or the executor stopped it (a timeout, a cancel, ``stop()``: the backend's ``kill`` calls
:meth:`Attempt.kill_children`, also for a THREAD attempt it can only abandon).
"""

from __future__ import annotations

import math
import sysconfig
import threading
from collections.abc import Callable
from contextvars import ContextVar, Token
from numbers import Real
from typing import Any

from .errors import ConfigError
from .store.records import TASK_COLUMNS

__all__ = ["Attempt", "BUILT_IN_COLUMNS", "RESERVED", "attempt_now", "current", "current_devices", "enter", "leave",
           "report", "run_in"]

#: Columns swarmlab itself reports for an attempt that took units per call
#: (:mod:`swarmlab.percall`): seconds its calls waited for units, and refusals its calls
#: were retried after.
RESERVED = ("limit_wait_s", "n_rate_limited")

#: Names a body may not report: the tasks frame's own columns, where reported values
#: land, and swarmlab's own reported columns.
BUILT_IN_COLUMNS = frozenset(TASK_COLUMNS) | frozenset(RESERVED)

# Reports from several threads of one attempt (its context handed to them) add up whole.
_LOCK = threading.Lock()
_acquire, _release = _LOCK.acquire, _LOCK.release

#: Whether a GIL runs one thread's bytecode at a time (not a free-threaded build). Then
#: one thread's stores are seen by the others in the order it made them (they hand over
#: through the GIL's lock), and ``x.n += 1`` on a plain attribute is never split by another
#: thread (the GIL changes hands at a call, a backward jump or a blocking call, and that
#: statement makes none). Attempt.end relies on the first to end an attempt that nothing
#: touched without its lock; the THREAD backend on the second to count which of its threads
#: will look for work. A free-threaded build takes the lock always, and wakes a thread
#: whenever more work waits.
GIL = not sysconfig.get_config_var("Py_GIL_DISABLED")


class Attempt:
    """The attempt a body runs in: ``task_id``, ``attempt`` (1-based), ``devices`` (the
    GPU devices it holds: ``()`` without any) and ``values``, what it reported so far
    (None until it reports). ``state`` and ``channel``: the dispatcher's task state and
    the channel its calls take units through (:mod:`swarmlab.percall`), for a body that
    runs in the executor's process (THREAD, ASYNCIO); None in a worker process.
    ``children``: the commands it started and that still run (None: none yet); ``orphaning``
    True once they were killed, so that one started later is killed at once. ``touched``:
    True once a report, an add or a command began (before it takes the lock). ``sink``:
    None, or ``sink(task_id, attempt, values)`` called with each report's values as it
    is made (under the scope's lock, so before :meth:`end` returns), never raising: the
    run's journal (``Journal.spent``), or a PROCESS worker's interim message to it."""

    __slots__ = ("task_id", "attempt", "devices", "values", "ended", "state", "channel", "children",
                 "orphaning", "sink", "touched")

    def __init__(self, task_id: str, attempt: int, devices: tuple[int, ...] = (), state: Any = None,
                 channel: Any = None, sink: Callable[[str, int, dict[str, float]], None] | None = None) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.devices = devices
        self.values: dict[str, float] | None = None
        self.ended = False
        self.state = state
        self.channel = channel
        self.children: list[Any] | None = None
        self.orphaning = False
        self.sink = sink
        self.touched = False

    def add(self, **values: float) -> None:
        """Add to what the attempt measured, names unchecked: swarmlab's own (the
        :data:`RESERVED` columns, by :mod:`swarmlab.percall`)."""
        self.touched = True  # before the lock: end() takes it from now on
        with _LOCK:
            if self.ended:
                return
            got = self.values
            if got is None:
                got = self.values = {}
            for name, value in values.items():
                got[name] = got.get(name, 0.0) + value
            if self.sink is not None:
                self.sink(self.task_id, self.attempt, dict(values))

    def end(self) -> dict[str, float] | None:
        """The attempt is over: what it reported (None: nothing); later reports are refused,
        and the commands it started that still run are killed."""
        # Ended first, then touched read: a report, add or adopt marks touched before it
        # takes the lock, then reads ended (or orphaning) under it. So when touched is
        # still False here, none has begun, values and children are None, and any that
        # begins from now on finds the attempt ended: no lock to take (~1,000 of the
        # ~1,900 instructions end cost, once per attempt). Otherwise the lock waits for the
        # one under way, whose values are then in.
        self.ended = True
        self.orphaning = True  # a command a thread it left running starts later dies at once
        if GIL and not self.touched:
            return None
        # acquire and release, not a with block: the with block's method lookups cost
        # more than the lock itself (~1,400 instructions)
        _acquire()
        try:
            values, children, self.children = self.values, self.children, None
        finally:
            _release()
        if children:
            for child in children:
                child.kill()
        return values

    def adopt(self, child: Any) -> bool:
        """Kill ``child`` (an object with a ``kill()`` method: a command's process group)
        when the attempt ends; False when it has ended already (the caller kills it)."""
        self.touched = True  # before the lock: end() takes it from now on
        with _LOCK:
            if self.orphaning:
                return False
            if self.children is None:
                self.children = []
            self.children.append(child)
            return True

    def disown(self, child: Any) -> None:
        """``child`` ended of itself: the attempt no longer kills it."""
        with _LOCK:
            if self.children is not None and child in self.children:
                self.children.remove(child)

    def kill_children(self) -> None:
        """Kill every command the attempt started that still runs, and any it starts from
        now on (a THREAD body abandoned at its timeout runs on)."""
        with _LOCK:
            self.orphaning = True
            children, self.children = self.children, None
        for child in children or ():
            child.kill()

    def __repr__(self) -> str:
        return f"Attempt({self.task_id!r}, {self.attempt}, devices={self.devices!r}, values={self.values!r})"


_CURRENT: ContextVar[Attempt | None] = ContextVar("swarmlab_attempt", default=None)


def run_in(scope: Attempt, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in ``scope``. Call it in a context of its own
    (``context.copy().run(run_in, ...)``): the scope stays set in that context."""
    _CURRENT.set(scope)
    return fn(*args)


#: ``enter(scope) -> token``: set ``scope`` in the current context (an asyncio task's)
#: until ``leave(token)``, which undoes it: the context is as it was (so a worker that
#: compares it stays). The variable's own methods, not functions that call them: ASYNCIO
#: calls both once per attempt, and a Python frame around each cost ~350 instructions.
enter: Callable[[Attempt | None], Token] = _CURRENT.set
leave: Callable[[Token], None] = _CURRENT.reset


def attempt_now() -> Attempt | None:
    """The attempt running in this context, None outside any."""
    return _CURRENT.get()


def current(what: str) -> Attempt:
    scope = _CURRENT.get()
    if scope is None:
        raise ConfigError(
            f"swarmlab.{what}() is for task bodies: it was called outside an attempt; call it from the "
            "function a Task runs (a thread the body starts needs the body's context: "
            "contextvars.copy_context().run)")
    return scope


def report(**values: float) -> None:
    """Record what the running attempt measured: numbers, summed over its calls.

    Each name becomes a float column of the attempt's row in ``record.tasks`` (NaN for
    attempts that did not report it), and a rate whose ``reported`` name it is
    (``RateLimit(..., reported="tokens")``) is trued up by reported minus declared
    when the attempt ends. Nothing is recorded for an attempt that ends without an
    answer (a PROCESS worker killed past its timeout, crashed or lost).

    Parameters
    ----------
    **values : int or float
        Finite numbers (not bool), by column name: an identifier that is not a column
        of the tasks frame (``BUILT_IN_COLUMNS``).

    Raises
    ------
    ConfigError
        Called outside an attempt, or a name or value not allowed (nothing of the call
        is then recorded). Raised in the body, it fails the attempt as any exception does.

    Examples
    --------
    >>> import swarmlab
    >>> def call_model(prompt):
    ...     swarmlab.report(tokens=812, usd=0.0031)
    ...     swarmlab.report(tokens=90)  # the attempt's row says tokens=902.0
    """
    scope = current("report")
    for name, value in values.items():
        if name in BUILT_IN_COLUMNS or not name.isidentifier():
            why = (f"{name!r} is a built-in column of the tasks frame" if name in BUILT_IN_COLUMNS
                   else f"{name!r} is not an identifier")
            raise ConfigError(f"task {scope.task_id!r} attempt {scope.attempt} reported {why}; report names "
                              "must be identifiers other than the tasks frame's columns "
                              f"({', '.join(TASK_COLUMNS)}) or swarmlab's own ({', '.join(RESERVED)}): "
                              "rename it (tokens_in, usd, ...)")
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise ConfigError(f"task {scope.task_id!r} attempt {scope.attempt} reported {name}={value!r}; "
                              "report values must be finite int or float numbers (not bool): pass a number")
    scope.touched = True  # before the lock: end() takes it from now on
    with _LOCK:
        if scope.ended:
            raise ConfigError(f"task {scope.task_id!r} attempt {scope.attempt} has ended; what is reported "
                              "after its body returned is not recorded: report before the body returns")
        got = scope.values
        if got is None:
            got = scope.values = {}
        for name, value in values.items():
            got[name] = got.get(name, 0.0) + float(value)
        if scope.sink is not None:  # the run journals: what was spent is written as it is spent
            scope.sink(scope.task_id, scope.attempt, {name: float(value) for name, value in values.items()})


def current_devices() -> tuple[int, ...]:
    """The GPU devices the running attempt holds (indices, as pinning assigned them;
    ``()`` when it holds none).

    Raises
    ------
    ConfigError
        Called outside an attempt.
    """
    return current("current_devices").devices
