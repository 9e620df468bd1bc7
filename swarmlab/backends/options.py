"""The executor's keyword arguments for its backend, checked at the boundary."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import positive_int
from ..core.runinfo import concurrency
from ..errors import ConfigError
from ..model import GPU, Agent, ResourceLimits

__all__ = ["backend_options"]


def backend_options(mode: str, agents: Sequence[Agent], limits: ResourceLimits, process_workers: Any,
                    dask_address: Any, dask_security: Any, dask_workers: Any) -> tuple[int, dict[str, Any]]:
    """The size of the process pool, and the keyword arguments the backend of ``mode`` is
    made with (beyond its host).

    ``process_workers`` None: ``max_concurrent_tasks`` (or the agents' capacity) in
    PROCESS mode, at most the CPU count in the others (CPU-bound work gains nothing
    beyond the cores).
    """
    positive_int(process_workers, "process_workers", allow_none=True)
    if process_workers is None:
        n = concurrency(limits, agents)
        process_workers = n if mode == "process" else min(n, os.cpu_count() or 1)
    dask = _dask_options(mode, agents, dask_address, dask_security, dask_workers)
    if mode == "process":
        return process_workers, {"max_workers": process_workers}
    if mode == "hybrid":
        return process_workers, {"process_workers": process_workers}
    return process_workers, dask


def _dask_options(mode: str, agents: Sequence[Agent], address: Any, security: Any,
                  workers: Any) -> dict[str, Any]:
    given = [n for n, v in (("dask_address", address), ("dask_security", security),
                            ("dask_workers", workers)) if v is not None]
    if mode != "dask":
        if given:
            raise ConfigError(
                f"{', '.join(given)} only apply to mode DASK; got mode {mode!r}; drop "
                "them or use mode='dask'"
            )
        return {}
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise ConfigError(
            f"dask_address must be a scheduler address like 'tcp://host:8786' or None for an "
            f"embedded cluster; got {address!r}"
        )
    pins: dict[str, Any] = {}
    if workers is not None:
        if not isinstance(workers, Mapping):
            raise ConfigError(f"dask_workers must map agent ids to Dask workers; got {workers!r}")
        ids = {a.id for a in agents}
        for agent_id, worker in workers.items():
            if agent_id not in ids:
                raise ConfigError(
                    f"dask_workers names agent {agent_id!r}, which is not in the pool; the "
                    f"agents are {', '.join(sorted(map(str, ids)))}"
                )
            if isinstance(worker, bool) or not isinstance(worker, (str, int)):
                raise ConfigError(
                    f"dask_workers[{agent_id!r}] must be a worker address, name or host; got {worker!r}"
                )
            pins[agent_id] = worker
    unpinned = [a.id for a in agents if (a.resources or {}).get(GPU) and a.id not in pins]
    if unpinned:
        raise ConfigError(
            f"agent {unpinned[0]!r} holds gpu units in mode DASK but is pinned to no Dask worker; the "
            "device table is this machine's, a worker has its own: pin it with "
            f"dask_workers={{{unpinned[0]!r}: <worker address or name>}} (a worker that declares the Dask "
            "resource 'GPU' then counts its units too), or drop its gpu units")
    return {"address": address, "security": security, "pins": pins}
