"""The original's result shapes: plain dicts that also carry swarmlab's objects.

Code written for ``swarm_benchmark.core`` reads results as dicts (``result["key"]``,
``.get``, ``json.dumps``); these classes are dicts, so it runs unchanged, while the
record, the summary frame and attribute access stay there for swarmlab's own users.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..events import ATTEMPT

if TYPE_CHECKING:
    import pandas as pd

    from ..model import Agent
    from ..realtime.executor import ParallelExecutor
    from ..store.records import RunRecord
    from .config import BenchmarkConfig

__all__ = ["Fields", "SuiteResult", "BenchmarkResult", "SUMMARY_COLUMNS", "fields", "agent_status",
           "pool_agent_status", "suite_summary", "suite_totals", "benchmark_result"]

#: Columns of ``SuiteResult.summary``, one row per objective run.
SUMMARY_COLUMNS = ("objective", "repeat", "task_id", "strategy", "status", "agent_id", "agent_type", "attempts",
                   "wait_s", "run_s", "simulated", "modelled_s", "exit_code", "error_type", "error")


class Fields(dict):
    """A plain dict whose keys also read as attributes (``m["throughput"] == m.throughput``):
    a metrics dataclass's fields as the original returned them."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no key or attribute {name!r}") from None


def fields(obj: Any) -> Fields:
    """A metrics dataclass as :class:`Fields`."""
    return Fields(dataclasses.asdict(obj))


class SuiteResult(dict):
    """What a suite did: the original's dict (``result["throughput"]``, ``json.dumps``,
    ``dict(result)``), that also carries ``.record`` (the RunRecord) and ``.summary``
    (one row per objective run)."""

    def __init__(self, data: dict[str, Any], record: RunRecord, summary: pd.DataFrame) -> None:
        super().__init__(data)
        self.record, self.summary = record, summary

    def __repr__(self) -> str:
        return (f"SuiteResult({self['suite_id']!r}: {self['completed_objectives']}/{self['total_objectives']} "
                f"completed, {self['duration']:.2f} s, {self['throughput']:.2f} objectives/s)")


class BenchmarkResult(dict):
    """One benchmark as the original's engine returned it: ``benchmark_id``, ``status``
    ("success" when every run of the objective completed, else "failed", with ``error``),
    ``summary`` (a line of text), ``duration``, ``optimized``, ``performance_metrics`` and
    ``results`` (one dict per objective run). Also carries ``.suite`` (the
    :class:`SuiteResult`, None when the run could not start), ``.record`` and
    ``.summary`` (the frame; the key ``"summary"`` is the original's text)."""

    def __init__(self, data: dict[str, Any], suite: SuiteResult | None) -> None:
        super().__init__(data)
        self.suite = suite
        self.record = suite.record if suite is not None else None
        self.summary = suite.summary if suite is not None else None

    def __repr__(self) -> str:
        return f"BenchmarkResult({self['benchmark_id']!r}: {self['status']}, {self['summary']})"


def _running_on(ex: ParallelExecutor) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for task_id, agent_id in ex.running_attempts():
        out.setdefault(agent_id, []).append(task_id)
    return out


def _run_times(ex: ParallelExecutor) -> dict[str, list[float]]:
    """Per agent: the summed run time and the number of its finished attempts."""
    out: dict[str, list[float]] = {}
    agent_at, started_at, finished_at = ATTEMPT.agent_id, ATTEMPT.started_s, ATTEMPT.finished_s
    for row in ex.recorder.attempts:
        started, agent = row[started_at], row[agent_at]
        if started is not None and agent is not None:
            sums = out.setdefault(agent, [0.0, 0])
            sums[0] += row[finished_at] - started
            sums[1] += 1
    return out


def agent_status(ex: ParallelExecutor) -> list[Fields]:
    """The original's ``get_agent_status()`` for the agents of a suite's executor.

    Per agent: ``id``, ``name`` (its id), ``type``, ``status`` ("busy" while it runs an
    attempt, "idle", "retired" once auto-scaling took it out), ``current_task`` (the id
    of an attempt it runs, or None), ``tasks_completed`` and ``tasks_failed`` (its finished
    attempts that did and did not complete), ``success_rate`` = completed / finished
    (0.0 before it finished any), ``average_execution_time`` (mean run time of its
    finished attempts, 0.0 before any), and ``capabilities``, ``capacity``, ``queued``,
    ``running``, ``current_tasks``.
    """
    running, times = _running_on(ex), _run_times(ex)
    out = []
    for a in ex.pool_status():
        aid, n_ok, n_done = a["agent_id"], a["completed"], a["finished"]
        busy = running.get(aid, [])
        run_sum, n_run = times.get(aid, (0.0, 0))
        out.append(Fields(
            id=aid, name=aid, type=a["type"],
            status="retired" if a["retired"] else "busy" if a["running"] else "idle",
            current_task=busy[0] if busy else None, tasks_completed=n_ok, tasks_failed=n_done - n_ok,
            success_rate=n_ok / n_done if n_done else 0.0,
            average_execution_time=run_sum / n_run if n_run else 0.0,
            capabilities=a["capabilities"], capacity=a["capacity"], queued=a["queued"], running=a["running"],
            current_tasks=busy,
        ))
    return out


def pool_agent_status(pool: list[Agent]) -> list[Fields]:
    """:func:`agent_status` of a pool before any suite ran: every agent idle, nothing done."""
    return [Fields(id=a.id, name=a.id, type=a.type.value, status="idle", current_task=None, tasks_completed=0,
                   tasks_failed=0, success_rate=0.0, average_execution_time=0.0,
                   capabilities=sorted(a.capabilities), capacity=a.capacity, queued=0, running=0, current_tasks=[])
            for a in pool]


def suite_summary(record: RunRecord, ex: ParallelExecutor, bc: BenchmarkConfig) -> pd.DataFrame:
    """One row per objective run (:data:`SUMMARY_COLUMNS`)."""
    import pandas as pd

    final = record.final()[["task_id", "wait_s", "run_s"]]
    types = {a["agent_id"]: a["type"] for a in ex.pool_status()}
    rows = []
    for task, res in ex.ended_tasks():
        tid = res.task_id
        value = res.value if isinstance(res.value, dict) else {}
        runner, objective, strategy, *_ = task.args  # run_objective's arguments
        rows.append({
            "objective": objective, "repeat": int(tid.rsplit("-r", 1)[1]) if bc.repeats > 1 else 0,
            "task_id": tid, "strategy": strategy.value, "status": res.status.value, "agent_id": res.agent_id,
            "agent_type": types.get(res.agent_id), "attempts": res.attempts,
            "simulated": bool(getattr(runner, "simulated", False)),
            "modelled_s": value.get("modelled_s"), "exit_code": value.get("exit_code"),
            "error_type": res.error_type, "error": res.error,
        })
    df = pd.DataFrame(rows).merge(final.astype({"task_id": object}), on="task_id", how="left")
    return df[list(SUMMARY_COLUMNS)]


def benchmark_result(suite: SuiteResult, optimized: bool) -> BenchmarkResult:
    """A one-objective suite as the original engine's result; its ``error`` names the
    first run that did not complete: its status, error type and message."""
    m, sm = suite["execution_metrics"], suite["scheduling_metrics"]
    ok = suite["completed_objectives"] == suite["total_objectives"]
    data = {
        "benchmark_id": suite["suite_id"],
        "status": "success" if ok else "failed",
        "summary": (f"{suite['completed_objectives']}/{suite['total_objectives']} objective runs completed "
                    f"in {suite['duration']:.2f} s"),
        "duration": suite["duration"],
        "optimized": optimized,
        "performance_metrics": Fields(
            throughput=suite["throughput"], average_execution_time=m["average_execution_time"],
            queue_wait_time=m["queue_wait_time"], load_balance_score=sm["load_balance_score"],
            executor=m, scheduling=sm,
        ),
        "results": suite["results"],
    }
    if not ok:
        bad = next(r for r in suite["results"] if r["status"] != "completed")
        parts = (bad["status"], bad["error_type"], bad["error"])
        data["error"] = ": ".join(x for x in parts if isinstance(x, str) and x)
    return BenchmarkResult(data, suite)


def suite_totals(suite: SuiteResult, peak: int) -> dict[str, float]:
    """What one suite adds to ``OrchestrationManager.get_orchestration_metrics()``."""
    rec, summary = suite.record, suite.summary
    t = rec.tasks
    ran = t[t["started_s"].notna()]
    ev = rec.events
    scaled = ev.loc[ev["event"] == "scaled", "detail"].astype(str)
    done = summary[summary["status"] == "completed"]
    capacity = sum(a["capacity"] for a in rec.meta["agents"])
    return {
        "total_benchmarks": len(summary), "completed_benchmarks": len(done),
        "total_tasks": len(ran), "completed_tasks": int((ran["status"] == "completed").sum()),
        "completed_s": float(done["run_s"].sum()), "busy_s": float(ran["run_s"].sum()),
        "capacity_s": capacity * suite["duration"], "duration": suite["duration"], "agents_peak": peak,
        "scale_ups": int(scaled.str.startswith("+").sum()), "scale_downs": int(scaled.str.startswith("-").sum()),
        "steals": int((ev["event"] == "stolen").sum()),
    }
