"""Workloads: seeded task recipes (io, cpu, mixed, dag, swarm, llm_swarm, ...) and WfFormat instances."""

from .recipes import (
    WORKLOADS,
    Workload,
    capability_mix,
    cpu,
    dag,
    heavy_tailed,
    io,
    io_wait,
    io_wait_async,
    make,
    mixed,
    needing,
    pool_capabilities,
    specialist_pool,
    spin,
    spin_async,
    swarm,
)
from .llm import llm_swarm
from .wfformat import from_wfformat, wfformat_instance, wfformat_runtimes

WORKLOADS["llm_swarm"] = llm_swarm  # registered here: llm builds on recipes' Workload

__all__ = [
    "Workload", "io", "cpu", "mixed", "heavy_tailed", "capability_mix", "dag", "swarm", "WORKLOADS",
    "make", "needing", "pool_capabilities", "specialist_pool", "io_wait", "io_wait_async", "spin", "spin_async",
    "from_wfformat", "wfformat_instance", "wfformat_runtimes", "llm_swarm",
]
