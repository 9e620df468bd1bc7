"""Units a task holds while an attempt runs: an agent's own, a pool's, a rate's.

The dispatcher owns one :class:`Units` per run that has resources (none otherwise: a
run without them pays nothing). A task's ``resources`` resolve at submit, by name, to
an agent resource (``Agent(resources=...)``), a pool or a rate
(``ResourceLimits(pools=..., rates=...)``); names are unique across the three.

Starting. When the best waiting task of an agent comes up (``Queues.take``) and one of
its units is not free (an agent's or a pool's units are held, a rate's bucket is short,
or a ``RateLimited`` pause holds the resource), the task is *held*: its queue entry is
parked off the agent's queue, keeping its rank, and a ``held`` event names the
resource. The tasks behind it on that agent start as if it were not there. A held task
is put back, in rank order, when units of what held it come back (an attempt ended),
when its bucket has refilled enough (:meth:`Units.next_wakeup` names that time, so the
drivers wake the dispatcher; :meth:`Units.at` looks again before each start, so a task
ranked after it cannot reach refilled units first) or when a pause ends. A held task
whose agent is full cannot start: it neither keeps units from the next held task nor
reserves them.

Agent and pool units come back at every end of an attempt (completed, failed, timed
out, cancelled, crashed, lost); a rate's are spent when the attempt starts. An attempt
that was abandoned, not stopped (a THREAD body past its timeout), keeps its units until
its thread returns (:meth:`Units.keep`, :meth:`Units.release_kept`).

A large need is not starved by small ones: once a held task has waited
:data:`RESERVE_AFTER_S` seconds, it *reserves* the resource that held it: no task
ranked after it may take units of that resource until it has started (tasks ranked
before it still may). Units then accumulate as the attempts holding them end, so the
large task starts at the latest when the attempts that held the resource at the time
of the reservation, and those ranked before it, have ended.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from sortedcontainers import SortedKeyList

from ..errors import ConfigError, RateLimited
from ..events import Recorder, attempt_row
from ..model import GPU, Agent, ResourceLimits, Task
from .bucket import EPSILON, TokenBucket
from .budgets import Budgets
from .calls import Calls
from .devices import Devices, devices_text, gpu_units
from .needs import Need, resolve_all

__all__ = ["Units", "Need", "RESERVE_AFTER_S", "MAX_RATE_LIMITED", "MAX_BACKOFF_S", "refused", "resolve_all",
           "devices_text"]

#: Seconds a held task waits before it reserves the resource that holds it (see the
#: module's docstring). Long enough that a short wait never serialises the small tasks
#: behind a large one; short against the minutes a starved task would wait.
RESERVE_AFTER_S = 5.0

#: ``RateLimited`` refusals of one task in a row after which it fails (``rate_limited``):
#: a provider that never relents (a revoked key, a quota of 0) must not keep a run alive
#: for ever, yet 50 refusals with backoff up to a minute ride out any honest burst.
MAX_RATE_LIMITED = 50

#: Retry backoff is capped so that a task with many retries (or refusals without a
#: retry-after) cannot sleep for hours. The dispatcher's retries use it too.
MAX_BACKOFF_S = 60.0


class Units:
    """The free units of a run, the tasks they hold back, and the reservations.

    Parameters
    ----------
    limits : ResourceLimits
        Its ``pools`` and ``rates``.
    slots : list of AgentSlot
        The pool's agents (their ``units`` are their free agent units).
    recorder : Recorder
        Takes the ``held`` events.
    requeue : callable
        ``requeue(st)``: put a held task back on its agent's queue under its key.
    """

    def __init__(self, limits: ResourceLimits, slots: list, recorder: Recorder,
                 requeue: Callable[[Any], None]) -> None:
        self.sizes = dict(limits.pools)
        self.free = dict(limits.pools)
        self.rates = dict(limits.rates)
        self.buckets = {name: TokenBucket(r.limit, r.per_s, 0.0) for name, r in limits.rates.items()}
        self.reported = {(r.reported or name): name for name, r in limits.rates.items()}
        self.slots = slots
        self.recorder = recorder
        self.requeue = requeue
        self.paused: dict[str, float] = {}  # resource -> until
        # resource key (a pool's or rate's name, or (agent idx, name)) -> sorted
        # [(task key, seq, TaskState)] of the tasks it held back and that wait still. A
        # resource that binds for long holds most waiting tasks (10 agents and a pool of
        # 5: half of them), held whole queues at a time, their ranks interleaved, and
        # taken from the front as units come back: a plain sorted list moved the entries
        # behind each insertion and removal (quadratic: 96 us a task at 500,000 tasks);
        # sortedcontainers' list of sorted blocks inserts and removes in O(log n).
        self.lists: dict[Any, SortedKeyList] = {}
        self.waiting_on: dict[Any, tuple] = {}  # TaskState -> (resource key, since, first held)
        self.parked: set = set()  # held tasks off their queue
        self.kept: dict[tuple, tuple] = {}  # (task id, attempt) -> (slot, need, devices): abandoned attempts
        self.held_s: dict[str, float] = {}  # resource -> seconds tasks were held back for it
        self.declared: dict[str, dict[str, float]] = {}  # task id -> its resources (replay keeps them)
        self.devices: Devices | None = None  # the device table, once pin() made it (agents with gpu units)
        self.machine: int | None = None  # the machine's devices (None: the declared indices)
        self.where = "the machine"
        self.now = 0.0
        self._seq = 0
        self._names: set[str] = set()
        self._resolved: dict[tuple, Need] = {}  # (requires, resources) -> Need: tasks share them
        self._last_resolved: tuple | None = None  # (resources, requires, Need) of the last task resolved
        self.calls: Calls | None = None  # units per call (swarmlab.acquire), once a body asks
        self.budgets = Budgets(limits.budgets) if limits.budgets else None  # what bodies report, in all
        self.check_names()

    # ------------------------------------------------------------------ devices
    def pin(self, machine: int | None, where: str = "the machine") -> None:
        """Make the device table for ``machine`` devices (None: the agents' declared
        indices; see :mod:`swarmlab.core.devices`); ConfigError when it cannot be split."""
        self.machine, self.where = machine, where
        gpu = any(gpu_units(s.agent) for s in self.slots)
        self.devices = Devices(self.slots, machine, where) if gpu else None

    def check_join(self, agent: Agent) -> None:
        """ConfigError when ``agent``, joining now, would get no devices of its own."""
        if gpu_units(agent):
            if self.devices is not None:
                self.devices.check(agent)
            else:
                Devices([], self.machine, self.where).check(agent)

    def joined(self, slot: Any) -> None:
        """``slot`` joined the pool (checked by :meth:`check_join`): its devices."""
        if gpu_units(slot.agent):
            if self.devices is None:
                self.devices = Devices(self.slots, self.machine, self.where)
            elif slot.idx not in self.devices.of:
                self.devices.add(slot)

    # ------------------------------------------------------------------ resolving
    def agent_names(self) -> set[str]:
        return {r for s in self.slots for r in (s.agent.resources or ())}

    def check_names(self) -> None:
        """Agent resource names may not be a pool's or a rate's."""
        self._names = self.agent_names()
        self._resolved.clear()
        self._last_resolved = None
        clash = sorted(self._names & (set(self.sizes) | set(self.rates)))
        if clash:
            raise ConfigError(f"resource names must be unique across agents' resources, pools and rates; "
                              f"{clash} is both an agent resource and a pool or rate of ResourceLimits")

    def resolve(self, task: Task, tid: str, index: Any) -> Need:
        """The task's need, resolved; raises ConfigError or NoEligibleAgentError."""
        res, requires = task.resources, task.requires
        last = self._last_resolved  # the task before needed the same: no key built (batches of one kind)
        if last is not None and res == last[0] and requires == last[1]:
            return last[2]
        ckey = (requires, tuple(res.items()))
        need = self._resolved.get(ckey)
        if need is not None:
            self._last_resolved = (dict(res), requires, need)
            return need
        agent_names = self._names
        agent, pool, rate = [], [], []
        for name, n in sorted(task.resources.items()):
            kind = self.shared(name, n, f"task {tid!r} needs")
            if kind == "pool":
                pool.append((name, n))
            elif kind == "rate":
                rate.append((name, n))
            elif name in agent_names:
                agent.append((name, n))
            else:
                raise ConfigError(
                    f"task {tid!r} needs resource {name!r}, which is no agent resource "
                    f"({sorted(agent_names)}), pool ({sorted(self.sizes)}) or rate ({sorted(self.rates)}) of "
                    "this run; declare it in Agent(resources=...) or ResourceLimits(pools=..., rates=...)")
        need = Need(tuple(agent), tuple(pool), tuple(rate))
        if agent:
            index.eligible_for(task.requires, need.agent, tid)
        self._resolved[ckey] = need
        self._last_resolved = (dict(res), requires, need)
        return need

    def shared(self, name: str, n: float, who: str) -> str | None:
        """Whether ``name`` is a ``"pool"`` or a ``"rate"`` of the run (None: neither);
        a ConfigError, beginning with ``who`` (``"task 't1' needs"``), when ``n`` units are
        more than it holds."""
        if name in self.sizes:
            if n > self.sizes[name] + EPSILON:
                raise ConfigError(f"{who} {n:g} units of pool {name!r}, which holds {self.sizes[name]:g}; "
                                  "ask for less or raise ResourceLimits.pools")
            return "pool"
        if name in self.rates:
            if n > self.rates[name].limit + EPSILON:
                raise ConfigError(f"{who} {n:g} units of rate {name!r}, whose bucket holds "
                                  f"{self.rates[name].limit:g}; ask for less or raise the RateLimit")
            return "rate"
        return None

    def use_calls(self) -> Calls:
        """The run's per-call grants (:mod:`swarmlab.core.calls`), made at the first call."""
        if self.calls is None:
            self.calls = Calls(self)
        return self.calls

    # ------------------------------------------------------------------ starting
    def admit(self, st: Any, slot: Any) -> str | None:
        """Take the units of ``st`` on ``slot`` now, all or none; the name of the
        resource that holds it back, or None when taken."""
        need = st.need
        if not need.simple or self.lists or self.paused or (self.calls is not None and self.calls.waiting):
            return self.admit_held(st, slot, need)
        # At most one pool and one rate, no agent units, and nothing held back, paused or
        # waiting for a call: the free units alone decide (asked at every start of a task
        # with resources: admit_held's checks, those known to pass left out, unrolled).
        p = need.pool_name
        if p is not None and self.free[p] + EPSILON < need.pool_n:
            return self._hold(st, p, p)
        r = need.rate_name
        if r is not None:
            b = self.buckets[r]
            if b.available(self.now) + need.rate_slack < need.rate_n:
                return self._hold(st, r, r)
            b.level -= need.rate_n  # refilled to now by available(): the last check passed, taken
        if p is not None:
            self.free[p] -= need.pool_n
        return None

    def admit_held(self, st: Any, slot: Any, need: Need) -> str | None:
        """:meth:`admit` where tasks are held back, a resource is paused, a call waits
        or ``need`` is not simple (agent units, several pools or rates): reservations,
        pauses, calls and devices count."""
        now = self.now
        paused = self.paused
        units = slot.units
        lists = self.lists  # (empty lists are dropped: none, no reservation to look at)
        for r, n in need.agent:
            free = units.get(r, 0.0)
            if free + EPSILON < n or (lists and self._reserved((slot.idx, r), st, now, free - n)):
                return self._hold(st, (slot.idx, r), r)
        pools = self.free
        calls = self.calls if self.calls is not None and self.calls.waiting else None  # calls go first
        for r, n in need.pool:
            free = pools[r]
            if (free + EPSILON < n or (paused and paused.get(r, 0.0) > now)
                    or (lists and self._reserved(r, st, now, free - n)) or (calls and calls.blocks(r))):
                return self._hold(st, r, r)
        buckets = self.buckets
        for r, n in need.rate:
            free = buckets[r].available(now)
            if ((paused and paused.get(r, 0.0) > now) or free + EPSILON * (n if n > 1.0 else 1.0) < n
                    or (lists and self._reserved(r, st, now, free - n)) or (calls and calls.blocks(r))):
                return self._hold(st, r, r)
        g = need.gpu
        if g:
            devs = self.devices.take(slot.idx, g)
            if devs is None:  # units enough, but spread over devices: none has room
                return self._hold(st, (slot.idx, GPU), GPU)
            st.devices = devs
        for r, n in need.agent:
            units[r] -= n
        for r, n in need.pool:
            pools[r] -= n
        for r, n in need.rate:
            buckets[r].level -= n  # refilled to now by available() just above
        w = self.waiting_on.pop(st, None) if lists else None
        if w is not None:
            self._count(w, now)
            self._drop(w[0], st)
            self._unpark(w[0], now)  # those behind it may fit in what is left
        return None

    def _reserved(self, rkey: Any, st: Any, now: float, left: float) -> bool:
        """A task ranked before ``st`` has waited long enough for ``rkey`` to reserve it,
        and the ``left`` units ``st`` would leave do not cover it."""
        lst = self.lists.get(rkey)
        if not lst:
            return False
        for key, _, other in lst:  # the first that still waits
            w = self.waiting_on.get(other)
            if w is None or w[0] != rkey or other.key != key:
                continue
            if other is st or key > st.key:
                return False
            if other.slot.running >= other.slot.capacity:
                continue  # its agent is full: it cannot start now, so it holds nothing back
            if now - w[2] < RESERVE_AFTER_S:
                return False
            name = rkey if isinstance(rkey, str) else rkey[1]
            return left + EPSILON < other.need.of(name)
        return False

    def _hold(self, st: Any, rkey: Any, name: str) -> str:
        """Park ``st`` off its queue until ``rkey`` has units for it."""
        now = self.now
        w = self.waiting_on.get(st)
        if w is None or w[0] != rkey:
            if w is None:
                self.recorder.emit(now, "held", st.id, st.slot.id, name)
                first = now
            else:
                self._count(w, now)
                self._drop(w[0], st)
                first = w[2]
            self._seq += 1
            lst = self.lists.get(rkey)
            if lst is None:
                lst = self.lists[rkey] = SortedKeyList(key=_rank)
            lst.add((st.key, self._seq, st))
            self.waiting_on[st] = (rkey, now, first)
        self.parked.add(st)
        return name

    def _count(self, w: tuple, now: float) -> None:
        rkey, since, _ = w
        name = rkey if isinstance(rkey, str) else rkey[1]
        self.held_s[name] = self.held_s.get(name, 0.0) + (now - since)

    def _drop(self, rkey: Any, st: Any) -> None:
        """Take ``st`` off the list of ``rkey`` (dropping the list when empty: an empty
        ``lists`` lets admit skip the reservations)."""
        lst = self.lists.get(rkey)
        if lst is None:
            return
        for i, e in enumerate(lst):  # (nearly always the first: the best ranked starts first)
            if e[2] is st:
                del lst[i]
                break
        if not lst:
            del self.lists[rkey]

    def forget(self, st: Any, now: float) -> bool:
        """``st`` no longer waits (it ended, or its agent left); True if it was parked
        off its queue (it is in no queue now)."""
        w = self.waiting_on.pop(st, None)
        if w is not None:
            self._count(w, now)
            self._drop(w[0], st)
        if st in self.parked:
            self.parked.discard(st)
            return True
        return False

    # ------------------------------------------------------------------ giving back
    def release(self, slot: Any, need: Need, now: float, devices: tuple[int, ...] = ()) -> None:
        """An attempt on ``slot`` ended: its agent and pool units come back, and the
        ``devices`` it held."""
        lists = self.lists
        if need.agent:
            if devices:
                self.devices.give(devices, need.gpu)
            units = slot.units
            for r, n in need.agent:
                units[r] += n
                if lists:
                    self._unpark((slot.idx, r), now)
        pools = self.free
        calls = self.calls
        for r, n in need.pool:
            pools[r] += n
            if calls is not None and calls.waiting:  # calls of running attempts first
                calls.serve(now)
            if lists:
                self._unpark(r, now)

    def freed(self, name: str, now: float) -> None:
        """Units of pool ``name`` came back (a call's): the tasks it held may go."""
        if self.lists:
            self._unpark(name, now)

    def ended(self, st: Any, slot: Any, abandoned: bool, now: float) -> None:
        """The attempt in flight of ``st`` ended: its units and its calls' come back,
        or stay with it when it was abandoned (:meth:`release_kept`)."""
        need = st.need
        if need is not None and need.simple and not (abandoned or self.lists or self.calls is not None):
            # release() of at most one pool, with no held task and no call: once an attempt
            if need.pool_name is not None:
                self.free[need.pool_name] += need.pool_n
            return
        calls = self.calls
        if need is not None:
            if abandoned:
                self.keep(st, st.attempt, slot)
            else:
                self.release(slot, need, now, st.devices)
        if calls is not None:
            calls.ended(st, st.attempt, now, abandoned)

    def keep(self, st: Any, attempt: int, slot: Any) -> None:
        """The attempt was abandoned, not stopped: its units stay held until
        :meth:`release_kept`."""
        self.kept[(st.id, attempt)] = (slot, st.need, st.devices)

    def release_kept(self, st: Any, attempt: int, now: float) -> bool:
        calls = self.calls is not None and self.calls.release_kept(st, attempt, now)
        got = self.kept.pop((st.id, attempt), None)
        if got is None:
            return calls
        self.release(got[0], got[1], now, got[2])
        return True

    def _unpark(self, rkey: Any, now: float) -> None:
        """Put back the tasks ``rkey`` held, in rank order, while ``free`` covers them
        (a task put back and not started yet counts against it while its agent has a
        free slot: the units are its; a full agent's task does not hold them back)."""
        lst = self.lists.get(rkey)
        if not lst:
            return
        name = rkey if isinstance(rkey, str) else rkey[1]
        if name in self.paused:
            if self.paused[name] > now:
                return
            del self.paused[name]
        if isinstance(rkey, str):
            bucket = self.buckets.get(name)
            free = bucket.available(now) if bucket is not None else self.free[name]
        else:
            free = self.slots[rkey[0]].units.get(name, 0.0)
        i = 0
        while i < len(lst):
            key, _, st = lst[i]
            w = self.waiting_on.get(st)
            if w is None or w[0] != rkey or st.key != key:
                del lst[i]
                continue
            n = st.need.of(name)
            i += 1
            # A task that cannot start now (its agent is full) goes back too, for when
            # its agent has a free slot, but does not hold the units back from the next.
            room = st.slot.running < st.slot.capacity
            parked = st in self.parked
            if not parked and not room:
                continue  # put back already, waiting for a free slot
            if n > free + EPSILON * max(1.0, n):
                break
            if room:
                free -= n
            if parked:
                self.parked.discard(st)
                self.requeue(st)
        if not lst:
            del self.lists[rkey]

    def unpark_all(self, now: float) -> None:
        """Put every held task back (nothing runs: they are checked again)."""
        for st in sorted(self.parked, key=_key):
            self.parked.discard(st)
            self.requeue(st)

    # ------------------------------------------------------------------ pauses, rates, time
    def pause(self, name: str, until: float) -> bool:
        """Nothing needing ``name`` (a pool or rate) starts before ``until``; False if
        ``name`` is neither."""
        if name not in self.sizes and name not in self.rates:
            return False
        if until > self.paused.get(name, 0.0):
            self.paused[name] = until
        return True

    def charge(self, reported: dict[str, float], need: Need | None, now: float,
               by_calls: dict[str, float] | None = None) -> None:
        """True up the rates whose ``reported`` value a body reported: reported minus
        declared, what the task declared and what its calls took (``by_calls``)."""
        for col, value in reported.items():
            name = self.reported.get(col)
            if name is not None:
                declared = need.of(name) if need is not None else 0.0
                if by_calls:
                    declared += by_calls.get(name, 0.0)
                self.buckets[name].charge(float(value) - declared, now)

    def spent(self, name: str, units: float, now: float) -> None:
        """Rate ``name``'s bucket gives ``units`` fewer from ``now``: units spent before
        this run began (a resumed run's journal says what its killed part spent
        recently), so the bucket starts where the provider's own stands, not full."""
        bucket = self.buckets.get(name)
        if bucket is None:
            raise ConfigError(f"{name!r} is no rate of this run (rates: {sorted(self.buckets)}); "
                              "only a rate's bucket can start partly spent")
        bucket.charge(units, now)

    def next_wakeup(self) -> float | None:
        """The earliest time a pause ends or a bucket covers the best held need or the
        first waiting call."""
        best = self.calls.next_wakeup() if self.calls is not None else None
        for name, until in self.paused.items():
            if self.lists.get(name) and (best is None or until < best):
                best = until
        for name, bucket in self.buckets.items():
            lst = self.lists.get(name)
            if not lst:
                continue
            total = 0.0  # as _unpark counts: the tasks put back before it take their part first
            for key, _, st in lst:
                w = self.waiting_on.get(st)
                if w is None or w[0] != name or st.key != key:
                    continue
                if st not in self.parked:  # put back: its part counts if it can start now
                    if st.slot.running < st.slot.capacity:
                        total += st.need.of(name)
                    continue
                total += st.need.of(name)
                t = bucket.when(total, bucket.t)
                t = max(t, self.paused.get(name, t))
                if best is None or t < best:
                    best = t
                break
        return best

    def at(self, now: float) -> None:
        """The driver is about to take starts at ``now``: the held tasks that what has
        refilled or come back by then covers go back first, in rank order, so a task
        ranked after them (on any agent) cannot take those units before they do."""
        self.now = now
        if self.lists or (self.calls is not None and self.calls.waiting):
            self.wake(now)

    def wake(self, now: float) -> None:
        """Pauses over and buckets refilled by ``now`` give the waiting calls their units
        and put back the tasks they held."""
        if self.calls is not None and self.calls.waiting:
            self.calls.serve(now)
        for name in [n for n, until in self.paused.items() if until <= now]:
            del self.paused[name]
            self._unpark(name, now)
        for name in self.buckets:
            if self.lists.get(name):
                self._unpark(name, now)

    def free_units(self, slot: Any) -> MappingProxyType:
        return MappingProxyType(slot.units)

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """For ``record.meta``: pools, rates, and seconds tasks were held back per resource.

        A wait counts when it ends (the task starts, or ends unstarted: cancelled while
        held, the run stopped); given ``now``, the waits still open count up to it too,
        so a snapshot of a run in progress is not short of the tasks held at that moment."""
        held = dict(self.held_s)
        if now is not None:
            for rkey, since, _ in self.waiting_on.values():
                name = rkey if isinstance(rkey, str) else rkey[1]
                held[name] = held.get(name, 0.0) + max(0.0, now - since)
        return {"pools": dict(self.sizes),
                "rates": {n: {"limit": r.limit, "per_s": r.per_s} for n, r in self.rates.items()},
                "held_s": held, "task_resources": dict(self.declared),
                **({"devices": self.devices.table()} if self.devices is not None else {}),
                **({"budgets": self.budgets.summary()} if self.budgets is not None else {}),
                **({"calls": self.calls.summary()} if self.calls is not None else {})}


def _rank(e: tuple) -> tuple:
    return e[0], e[1]


def _key(st: Any) -> int:
    return st.key


def refused(d: Any, st: Any, attempt: int, now: float, started: float, exc: RateLimited, error: str) -> float | None:
    """The attempt of ``st`` on dispatcher ``d`` raised RateLimited: it ends
    ``rate_limited`` (its attempt row and event, with the retry-after) and, when the
    exception names a pool or rate, that resource pauses. Returns the seconds until the
    task runs again (not spending ``max_retries``), or None after
    :data:`MAX_RATE_LIMITED` refusals in a row (the task then fails ``rate_limited``).
    No retry-after: ``retry_backoff_s`` doubled at each refusal in a row, capped at a minute."""
    counts = d.rate_limited.setdefault(st.id, [0, 0])  # refusals, and in a row
    counts[0] += 1
    counts[1] += 1
    if counts[1] > MAX_RATE_LIMITED:
        return None
    delay = exc.retry_after_s
    if delay is None:
        delay = min(MAX_BACKOFF_S, st.task.retry_backoff_s * 2 ** (counts[1] - 1))
    d.recorder.attempts.append(attempt_row(
        task_id=st.id, name=st.task.name, attempt=attempt, status="rate_limited", priority=st.priority,
        agent_id=st.slot.id, mode=st.mode, worker=st.worker, submitted_s=st.submitted_s, ready_s=st.ready_s,
        started_s=started, finished_s=now, error_type="RateLimited", error=error, devices=devices_text(st.devices)))
    paused = exc.resource is not None and d.membership.use_units().pause(exc.resource, now + delay)
    d.recorder.emit(now, "rate_limited", st.id, st.slot.id,
                    f"retry after {delay:g}s" + (f", {exc.resource} paused" if paused else ""))
    return delay
