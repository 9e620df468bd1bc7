"""How close the simulation of provider calls comes to real runs (issue 25, item 5).

For ``llm_swarm`` the simulated makespan of each algorithm (its tasks carry their calls:
``simulate`` makes them against a model of the same provider on virtual time) is set
beside the mean real ASYNCIO makespan of the same set-up, from one ``compare`` run (the
same seeds on both clocks); a simulation at a higher tier beside a real run at that
tier; and ``whatif(record, limits=<that tier's>)`` of the real tier-1 runs (their
recorded calls made again under the higher limits) beside the real runs at that tier.
Target: within 10 %.
"""

from __future__ import annotations

import statistics

from swarmlab import compare, whatif
from swarmlab.workloads import llm_swarm

from ._harness import Row, Settings

__all__ = ["llm_swarm_fidelity"]

#: Simulated over real makespan must lie within this share of 1 (the issue's target).
TOLERANCE = 0.10
#: The higher tier a what-if is checked at: twice the provider's limits.
TIER = 2.0


def _rows(wl, algorithms, repeats: int, label: str, cmp=None) -> list[Row]:
    if cmp is None:
        cmp = _compare(wl, algorithms, repeats)
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


def _compare(wl, algorithms, repeats: int):
    return compare(wl, algorithms, modes=("asyncio",), simulate=True, repeats=repeats, warmup=False, baseline=False)


def _whatif_rows(tier1, tier2, wl2, algorithm: str) -> list[Row]:
    """Each real tier-1 run of ``algorithm`` replayed under the tier-2 limits
    (``whatif(record, limits=...)``: its recorded calls made again) against the mean
    real tier-2 makespan."""
    runs2 = tier2.per_run
    real = statistics.mean(runs2.loc[(runs2["algorithm"] == algorithm) & (runs2["mode"] == "asyncio"), "makespan_s"])
    records = [r for r in tier1.runs if r.meta.get("mode") == "asyncio" and r.meta.get("algorithm") == algorithm]
    pred = statistics.mean(
        float(whatif(r, [algorithm], limits=wl2.limits).set_index("scenario").loc[f"what if {algorithm}", "makespan_s"])
        for r in records)
    return [Row("llm_swarm_fidelity", f"whatif(tier-1 record, limits=tier {TIER:g}), {algorithm}: {pred:.3f} s vs "
                f"real tier {TIER:g} {real:.3f} s (means of {len(records)})", pred, real, "s",
                f"within {TOLERANCE:.0%}", abs(pred / real - 1) <= TOLERANCE)]


def llm_swarm_fidelity(s: Settings) -> list[Row]:
    n = s.size(60, 20)
    repeats = 1 if s.quick else 3
    algorithms = ["round_robin", "least_loaded"] if s.quick else [
        "round_robin", "least_loaded", "capability_based", "priority_based", "dynamic", "work_stealing"]
    wl = llm_swarm(n)
    tier1 = _compare(wl, algorithms, repeats)
    rows = _rows(wl, algorithms, repeats, f"llm_swarm(n={n}), declared limits", tier1)
    rows += _rows(llm_swarm(n, declare_limits=False), algorithms[:2], repeats,
                  f"llm_swarm(n={n}), undeclared limits (429s)")
    wl2 = llm_swarm(n, tier=TIER)
    tier2 = _compare(wl2, algorithms[:2], repeats)
    rows += _rows(wl2, algorithms[:2], repeats, f"simulated at tier {TIER:g}", tier2)
    for alg in algorithms[:2]:
        rows += _whatif_rows(tier1, tier2, wl2, alg)
    return rows
