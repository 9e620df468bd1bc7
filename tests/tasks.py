"""Task bodies for the behaviour suites: module level, so worker processes import them.

Each body exists as a sync function and as a coroutine function; ``body(mode, name)``
picks the one a mode runs (ASYNCIO runs coroutine functions only).
"""

import asyncio
import contextvars
import os
import time
from pathlib import Path


def add(a, b):
    return a + b


async def add_async(a, b):
    return a + b


def fail(message="boom"):
    raise ValueError(message)


async def fail_async(message="boom"):
    raise ValueError(message)


def sleep(seconds):
    time.sleep(seconds)
    return seconds


async def sleep_async(seconds):
    await asyncio.sleep(seconds)
    return seconds


def fail_first(marker):
    """Fails on the first call for ``marker`` (a file path), succeeds afterwards."""
    p = Path(marker)
    if not p.exists():
        p.write_text("tried")
        raise ConnectionError("first attempt fails")
    return "second attempt"


async def fail_first_async(marker):
    return fail_first(marker)


def pid():
    return os.getpid()


async def pid_async():
    return os.getpid()


MARK = contextvars.ContextVar("mark")


def mark(i):
    """What an earlier attempt left in a context variable (None: nothing); then leaves ``i``."""
    seen = MARK.get(None)
    MARK.set(i)
    return seen


async def mark_async(i):
    seen = MARK.get(None)
    MARK.set(i)
    await asyncio.sleep(0)
    return seen


def body(mode, name):
    """The variant of task body ``name`` that ``mode`` runs."""
    fn = globals()[name]
    if mode == "asyncio":
        return globals()[f"{name}_async"]
    return fn


_BASE = {"CancelledError": asyncio.CancelledError, "SystemExit": SystemExit,
         "KeyboardInterrupt": KeyboardInterrupt}


def raise_base(name):
    """Raises the BaseException named ``name`` (CancelledError, SystemExit, KeyboardInterrupt)."""
    raise _BASE[name]("raised by the task body")


async def raise_base_async(name):
    await asyncio.sleep(0)  # raised after the body has been scheduled, not at its first step
    raise _BASE[name]("raised by the task body")


def sleep_then_fail(seconds):
    time.sleep(seconds)
    raise ValueError(f"failed after {seconds}s")


async def sleep_then_fail_async(seconds):
    await asyncio.sleep(seconds)
    raise ValueError(f"failed after {seconds}s")


def report_then_block(tokens):
    """Reports ``tokens``, then blocks until its attempt is killed (its timeout)."""
    import swarmlab

    swarmlab.report(tokens=tokens)
    while True:
        time.sleep(0.05)
