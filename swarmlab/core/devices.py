"""GPU pinning: the run's device table and which devices each attempt holds.

Clock-free, like the rest of :mod:`swarmlab.core`: the real-time driver tells the run how
many devices the machine has (:func:`swarmlab.realtime.monitor.machine_devices`, NVML in
PCI bus order, restricted and renumbered by a ``CUDA_VISIBLE_DEVICES`` the user set), the
virtual-time driver tells it nothing, and the same rules run on both clocks.

The table. Each agent holding ``gpu`` units gets that many devices of its own: those its
``devices`` name, else the lowest free ones, in pool order. No device belongs to two
agents. Without a machine figure (no NVML device: CI, a laptop, virtual time) the table
is the indices the agents declare (0..n-1 in pool order, named ones kept), so pinning is
tested and simulated without a GPU.

Per attempt. An attempt holding k whole units takes k devices of its agent that no
running attempt holds (sorted); one holding a share below 1 is packed onto the fullest
device of its agent that still has room for it (as Ray packs fractional GPUs), so whole
devices stay free for whole needs. The units of :mod:`swarmlab.core.units` say whether
the agent has units enough; the devices can still be fragmented (two 0.6 shares on two
devices leave 0.8 units but no room for a third 0.6): the task is then held like any
other, on the agent's ``gpu``, until an attempt gives devices back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..model import GPU, Agent
from .bucket import EPSILON

__all__ = ["Devices", "split", "gpu_units", "visible_value", "devices_text"]


def gpu_units(agent: Agent) -> int:
    """The whole devices ``agent`` holds (its ``resources["gpu"]``; the model checked it is whole)."""
    return int(round((agent.resources or {}).get(GPU, 0)))


def split(agents: Sequence[Agent], machine: int | None, taken: Mapping[int, str] | None = None,
          where: str = "the machine") -> list[tuple[int, ...]]:
    """The devices of each of ``agents`` (in their order, ``()`` for one without gpu units).

    ``machine``: how many devices there are (indices 0..machine-1), or None for no
    figure (the table is then what the agents declare). ``taken``: device -> agent id of
    devices already given (agents joining a running pool). ``where`` names the machine's
    figure in errors. Raises ConfigError for a device named twice, a named device past
    the machine's, or more units than devices."""
    owner = dict(taken or {})
    out: list[tuple[int, ...]] = [()] * len(agents)
    gpu_agents = [(i, a) for i, a in enumerate(agents) if gpu_units(a)]
    if machine is not None:
        units = sum(gpu_units(a) for _, a in gpu_agents)
        if len(owner) + units > machine:
            held = f" (and {len(owner)} devices are held by agents already in the pool)" if owner else ""
            raise ConfigError(
                f"{len(gpu_agents)} agents declare {units} gpu units{held}, {where} has {machine} devices; "
                "lower the agents' resources['gpu'] or run where there are more devices")
    for i, a in gpu_agents:
        if a.devices is None:
            continue
        for dv in a.devices:
            if machine is not None and dv >= machine:
                raise ConfigError(f"agent {a.id!r} names device {dv}, but {where} has {machine} devices "
                                  f"(0..{machine - 1}); name devices that exist")
            if dv in owner:
                raise ConfigError(f"device {dv} belongs to two agents, {owner[dv]!r} and {a.id!r}; "
                                  "give each agent devices of its own (Agent(devices=...)), or name none")
            owner[dv] = a.id
        out[i] = tuple(sorted(a.devices))
    nxt = 0
    for i, a in gpu_agents:
        if a.devices is not None:
            continue
        got = []
        for _ in range(gpu_units(a)):
            while nxt in owner:
                nxt += 1
            owner[nxt] = a.id
            got.append(nxt)
        out[i] = tuple(got)
    return out


def visible_value(devices: Iterable[int], parent: str | None) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a process that should see exactly ``devices`` (table
    indices), given the parent's own value ``parent`` (None: unset). The table is
    renumbered as CUDA in the parent sees it, so with ``parent="2,3"`` device 1 is "3"."""
    if parent is None:
        return ",".join(str(d) for d in devices)
    entries = [e.strip() for e in parent.split(",") if e.strip()]
    return ",".join(entries[d] for d in devices)


def devices_text(devices: Sequence[int]) -> str:
    """The attempt row's ``devices``: ``"0,3"``, ``""`` for none (see ATTEMPT_SCHEMA).
    Every attempt row calls it: one test of an empty tuple for a task without devices."""
    return ",".join(map(str, devices)) if devices else ""


class Devices:
    """The run's device table (:attr:`of`: agent slot index -> its devices) and the
    share of each device in use (:attr:`used`, 0..1).

    Parameters
    ----------
    slots : list of AgentSlot
        The pool's agents (agents joining later come through :meth:`add`).
    machine : int or None
        The devices the machine has, or None (no NVML device: the declared indices).
    where : str
        Names the machine's figure in errors ("the machine (CUDA_VISIBLE_DEVICES=2,3)").
    """

    __slots__ = ("machine", "where", "of", "used", "slots")

    def __init__(self, slots: list, machine: int | None = None, where: str = "the machine") -> None:
        self.machine = machine
        self.where = where
        self.slots = slots
        self.of: dict[int, tuple[int, ...]] = {}
        self.used: dict[int, float] = {}
        for slot, devs in zip(slots, split([s.agent for s in slots], machine, where=where)):
            self._own(slot, devs)

    def _own(self, slot: Any, devs: tuple[int, ...]) -> None:
        if devs:
            self.of[slot.idx] = devs
            for dv in devs:
                self.used[dv] = 0.0

    def check(self, agent: Agent) -> None:
        """ConfigError when ``agent`` joining now would get no devices of its own."""
        taken = {dv: s.id for s in self.slots if not s.retired for dv in self.of.get(s.idx, ())}
        split([agent], self.machine, taken, self.where)

    def add(self, slot: Any) -> None:
        """An agent joined: its devices, or ConfigError. Devices of agents that left
        (retired) may be given again."""
        taken = {dv: s.id for s in self.slots if s is not slot and not s.retired for dv in self.of.get(s.idx, ())}
        for dv in [dv for s in self.slots if s.retired for dv in self.of.pop(s.idx, ())]:
            self.used.pop(dv, None)
        self._own(slot, split([slot.agent], self.machine, taken, self.where)[0])

    def take(self, idx: int, n: float) -> tuple[int, ...] | None:
        """Devices of agent ``idx`` for an attempt needing ``n`` units, marked in use;
        None when they do not fit now (held until an attempt gives some back)."""
        used = self.used
        mine = self.of.get(idx, ())
        if n >= 1.0 - EPSILON:
            k = int(round(n))
            free = [dv for dv in mine if used[dv] <= EPSILON]
            if len(free) < k:
                return None
            got = tuple(free[:k])
            for dv in got:
                used[dv] = 1.0
            return got
        best = None
        for dv in mine:  # the fullest device with room; the lowest index among equals
            u = used[dv]
            if u + n <= 1.0 + EPSILON and (best is None or u > used[best] + EPSILON):
                best = dv
        if best is None:
            return None
        used[best] += n
        return (best,)

    def give(self, devices: tuple[int, ...], n: float) -> None:
        """An attempt holding ``devices`` for ``n`` units ended: they are free again."""
        share = 1.0 if n >= 1.0 - EPSILON else n
        used = self.used
        for dv in devices:
            if dv in used:
                u = used[dv] - share
                used[dv] = u if u > EPSILON else 0.0

    def table(self) -> dict[str, list[int]]:
        """For ``record.meta``: agent id -> its devices."""
        return {self.slots[i].id: list(devs) for i, devs in self.of.items()}
