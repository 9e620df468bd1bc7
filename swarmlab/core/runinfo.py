"""What a run's ``meta`` says about where and how it ran."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from datetime import datetime, timezone
from typing import Any

from ..errors import ConfigError
from ..model import Agent, ResourceLimits

__all__ = ["run_meta", "default_agents", "describe_agents", "concurrency", "DEFAULT_AGENTS", "MAX_DEFAULT_AGENTS"]


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def run_meta(
    run_id: str, *, clock: str, mode: str, policy: Any, limits: ResourceLimits,
    seed: int | None, agents: list[Agent],
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "clock": clock,
        "mode": mode,
        "algorithm": policy.name,
        "work_stealing": policy.stealing is not None,
        "steal_max_priority": policy.stealing.max_priority if policy.stealing is not None else None,
        "stealing": policy.stealing.name if policy.stealing is not None else None,
        "aging_s": None if getattr(policy, "orders_starts", False) else policy.aging_s,
        "seed": seed,
        "limits": dataclasses.asdict(limits),
        "max_concurrent_tasks": concurrency(limits, agents),
        "n_agents": len(agents),
        "agents": describe_agents(agents),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": {
            "python": sys.version.split()[0],
            "swarmlab": _version("swarmlab"),
        },
    }


#: Agents a run gets when it is given none and no ``max_concurrent_tasks`` either.
DEFAULT_AGENTS = 10
#: Default agents built from ``max_concurrent_tasks`` at most: a typo of a few zeros must
#: be an error, not minutes of building agents (100,000 take about a tenth of a second).
MAX_DEFAULT_AGENTS = 100_000


def default_agents(limits: ResourceLimits) -> list[Agent]:
    """``max_concurrent_tasks`` identical agents (10 when it is None), ``agent-0`` ...
    ``agent-{n-1}``."""
    n = limits.max_concurrent_tasks or DEFAULT_AGENTS
    if n > MAX_DEFAULT_AGENTS:
        raise ConfigError(
            f"with no agents given, ResourceLimits(max_concurrent_tasks={n:,}) would build {n:,} default agents "
            f"(one per slot); at most {MAX_DEFAULT_AGENTS:,} are built that way: give agents= (an Agent holds "
            "several slots with capacity=...) or a smaller max_concurrent_tasks")
    return [Agent(f"agent-{i}") for i in range(n)]


def concurrency(limits: ResourceLimits, agents: list[Agent]) -> int:
    """Tasks that may run at once: ``max_concurrent_tasks``, else the agents' capacity."""
    total = sum(a.capacity for a in agents)
    cap = limits.max_concurrent_tasks
    return total if cap is None else min(cap, total)


def describe_agents(agents: list[Agent]) -> list[dict[str, Any]]:
    """The pool as plain data, for ``meta["agents"]``."""
    return [
        {"id": a.id, "type": a.type.value, "capabilities": sorted(a.capabilities),
         "capacity": a.capacity, "speed": a.speed,
         **({"resources": dict(a.resources), "devices": a.devices} if a.resources else {})}
        for a in agents
    ]
