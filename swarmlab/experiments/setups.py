"""The scheduling set-ups of a comparison and the fair order their runs are made in."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..model import GPU, Agent, ResourceLimits
from ..scheduling import Policy, SchedulingAlgorithm, TaskScheduler, policy_names, resolve_policy
from ..workloads.recipes import pool_capabilities

__all__ = ["Setup", "setups", "PlannedRun", "RunOrder", "SEQUENTIAL", "pool_resources"]

#: The label of the one-agent, one-task-at-a-time baseline in every frame and in the store.
SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class Setup:
    """One scheduling set-up of a comparison: a policy, as itself or with stealing added.
    ``label`` names it in every frame (``"least_loaded+stealing"``); ``spec`` is what
    rebuilds the policy (a registered name or ``"module:Class"``)."""

    label: str
    spec: str
    policy: Policy
    stealing: bool

    def scheduler(self) -> TaskScheduler:
        return TaskScheduler(self.policy, enable_work_stealing=self.stealing or None)


def setups(algorithms: Sequence[object] | None = None, add_stealing: bool = False) -> list[Setup]:
    """The set-ups ``compare`` runs: each algorithm as itself and, with ``add_stealing``,
    each that does not steal by itself again with work stealing on."""
    if algorithms is not None and (isinstance(algorithms, (str, bytes)) or not len(algorithms)):
        raise ConfigError(f"algorithms must be a non-empty list of names or policies; got {algorithms!r} "
                          f"(registered: {', '.join(policy_names())})")
    out = []
    for a in (algorithms if algorithms is not None else list(SchedulingAlgorithm)):
        policy = resolve_policy(a)
        spec = getattr(a, "value", a) if isinstance(getattr(a, "value", a), str) else policy.name
        steals = policy.stealing is not None
        out.append(Setup(policy.name, spec, policy, steals))
        if add_stealing and not steals:
            out.append(Setup(f"{policy.name}+stealing", spec, policy, True))
    labels = [s.label for s in out]
    if SEQUENTIAL in labels or len(set(labels)) != len(labels):
        raise ConfigError(f"two set-ups share a name: {labels} ({SEQUENTIAL!r} is the baseline's); "
                          "give each policy its own name")
    return out


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One run of a comparison's sequence: its position, role, set-up, mode and repeat."""

    order: int
    role: str  # "warmup", "baseline" or "measured"
    setup: Setup
    mode: str
    repeat: int | None


class RunOrder:
    """The order a comparison makes its runs in, so that a machine's drift (other load,
    its thermal state) falls on every set-up alike instead of on whichever ran then.

    :meth:`opening`: one warm-up per set-up and real mode (virtual time has nothing to
    warm), shuffled, then the sequential baseline of each mode. :meth:`round`: every
    set-up and mode once, in an order shuffled anew each round. :meth:`closing`: the
    baselines again, for the drift check. The shuffles come from ``random.Random(seed)``,
    so a seed gives the same order; ``order`` numbers the runs from ``start``.
    """

    def __init__(self, plan: Sequence[Setup], modes: Sequence[str], *, seed: int = 0, warmup: bool = True,
                 baseline: bool = True, start: int = 0) -> None:
        self.plan, self.modes = list(plan), list(modes)
        self.warmup, self.baseline = warmup, baseline
        self._rng = random.Random(seed)
        self._next = start
        self._solo = Setup(SEQUENTIAL, "round_robin", resolve_policy("round_robin"), False)

    def _number(self, items: list[tuple[str, Setup, str, int | None]]) -> list[PlannedRun]:
        out = [PlannedRun(self._next + i, role, s, m, r) for i, (role, s, m, r) in enumerate(items)]
        self._next += len(out)
        return out

    def opening(self) -> list[PlannedRun]:
        warm = [("warmup", s, m, None) for m in self.modes if m != "simulated" for s in self.plan] if self.warmup else []
        self._rng.shuffle(warm)
        return self._number(warm + self._baselines())

    def round(self, repeat: int) -> list[PlannedRun]:
        items = [("measured", s, m, repeat) for m in self.modes for s in self.plan]
        self._rng.shuffle(items)
        return self._number(items)

    def closing(self) -> list[PlannedRun]:
        return self._number(self._baselines())

    def _baselines(self) -> list[tuple[str, Setup, str, int | None]]:
        return [("baseline", self._solo, m, None) for m in self.modes] if self.baseline else []

    def fixture(self, item: PlannedRun, agents: Sequence[Agent], limits: ResourceLimits
                ) -> tuple[list[Agent], ResourceLimits]:
        """The agents and limits ``item`` runs with: the baseline runs on one agent
        holding every capability and the union of the agents' resources
        (:func:`pool_resources`), one task at a time, so that every task that can run in
        the set-ups can run on it; the pools and rates stay the run's."""
        if item.role != "baseline":
            return list(agents), limits
        resources, devices = pool_resources(agents)
        solo = Agent(SEQUENTIAL, capabilities=pool_capabilities(agents), resources=resources, devices=devices)
        return [solo], dataclasses.replace(limits, max_concurrent_tasks=1)


def pool_resources(agents: Sequence[Agent]) -> tuple[dict[str, float] | None, tuple[int, ...] | None]:
    """The union of the agents' resources: the units of each name summed (None when no
    agent holds any), and the devices they declare, when every agent holding ``gpu``
    units names its own (else None: the run gives the one agent its devices itself)."""
    total: dict[str, float] = {}
    for a in agents:
        for name, n in (a.resources or {}).items():
            total[name] = total.get(name, 0.0) + n
    gpu_agents = [a for a in agents if (a.resources or {}).get(GPU)]
    devices = None
    if gpu_agents and all(a.devices is not None for a in gpu_agents):
        union = sorted(set().union(*(a.devices for a in gpu_agents)))
        if len(union) == total[GPU]:  # (two agents naming one device: the run refuses it, not this)
            devices = tuple(union)
    return total or None, devices
