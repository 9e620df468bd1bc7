"""How close the simulation of provider calls comes to real runs (issue 25, item 5).

For ``llm_swarm`` the simulated makespan of each algorithm (its tasks carry their calls:
``simulate`` makes them against a model of the same provider on virtual time) is set
beside the mean real ASYNCIO makespan of the same set-up, from one ``compare`` run (the
same seeds on both clocks); and a simulation at a higher tier beside a real run at that
tier. Target: within 10 %.
"""

from __future__ import annotations

import statistics

from swarmlab import compare
from swarmlab.workloads import llm_swarm

from ._harness import Row, Settings

__all__ = ["llm_swarm_fidelity"]

#: Simulated over real makespan must lie within this share of 1 (the issue's target).
TOLERANCE = 0.10
#: The higher tier a what-if is checked at: twice the provider's limits.
TIER = 2.0


def _rows(wl, algorithms, repeats: int, label: str) -> list[Row]:
    cmp = compare(wl, algorithms, modes=("asyncio",), simulate=True, repeats=repeats, warmup=False, baseline=False)
    runs = cmp.per_run
    rows = []
    for alg in algorithms:
        mine = runs[runs["algorithm"] == alg]
        real = mine.loc[mine["mode"] == "asyncio", "makespan_s"]
        sim = mine.loc[mine["mode"] == "simulated", "makespan_s"]
        r, v = statistics.mean(real), statistics.mean(sim)
        rows.append(Row("llm_swarm_fidelity", f"{label}, {alg}: simulated {v:.3f} s vs real ASYNCIO {r:.3f} s "
                        f"(mean of {len(real)})", v, r, "s", f"within {TOLERANCE:.0%}",
                        abs(v / r - 1) <= TOLERANCE))
    return rows


def llm_swarm_fidelity(s: Settings) -> list[Row]:
    n = s.size(60, 20)
    repeats = 1 if s.quick else 3
    algorithms = ["round_robin", "least_loaded"] if s.quick else [
        "round_robin", "least_loaded", "capability_based", "priority_based", "dynamic", "work_stealing"]
    rows = _rows(llm_swarm(n), algorithms, repeats, f"llm_swarm(n={n}), declared limits")
    rows += _rows(llm_swarm(n, declare_limits=False), algorithms[:2], repeats,
                  f"llm_swarm(n={n}), undeclared limits (429s)")
    rows += _rows(llm_swarm(n, tier=TIER), algorithms[:2], repeats, f"what-if tier {TIER:g}")
    return rows
