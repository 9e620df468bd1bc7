"""Metrics as DataFrame -> DataFrame, computed from recorded rows only."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .records import RunRecord

__all__ = ["summary", "SUMMARY_COLUMNS"]

#: Columns of :func:`summary`, one row per run.
SUMMARY_COLUMNS = (
    "run_id", "clock", "mode", "algorithm", "tasks", "completed", "failed", "timed_out",
    "cancelled", "upstream_failed", "attempts", "makespan_s", "throughput_tps",
    "mean_wait_s", "p95_wait_s", "mean_run_s", "busy_s", "utilization",
)


def summary(records: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run.

    ``makespan_s`` runs from the first submission to the last finish; ``throughput_tps``
    is completed tasks over the makespan; waits and run times are over attempts that
    started; ``busy_s`` sums their run times and ``utilization`` is ``busy_s`` over
    makespan times the number of agents.
    """
    rows = []
    for rec in records:
        t = rec.tasks
        final = rec.final()
        counts = final["status"].value_counts()
        ran = t.dropna(subset=["started_s"])
        makespan = float(t["finished_s"].max() - t["submitted_s"].min()) if len(t) else 0.0
        busy = float(ran["run_s"].sum())
        agents = rec.meta.get("n_agents") or 1
        rows.append({
            "run_id": rec.run_id,
            "clock": rec.meta.get("clock"),
            "mode": rec.meta.get("mode"),
            "algorithm": rec.meta.get("algorithm"),
            "tasks": len(final),
            "completed": int(counts.get("completed", 0)),
            "failed": int(counts.get("failed", 0)),
            "timed_out": int(counts.get("timed_out", 0)),
            "cancelled": int(counts.get("cancelled", 0)),
            "upstream_failed": int(counts.get("upstream_failed", 0)),
            "attempts": len(ran),
            "makespan_s": makespan,
            "throughput_tps": counts.get("completed", 0) / makespan if makespan > 0 else float("nan"),
            "mean_wait_s": float(ran["wait_s"].mean()),
            "p95_wait_s": float(ran["wait_s"].quantile(0.95)) if len(ran) else float("nan"),
            "mean_run_s": float(ran["run_s"].mean()),
            "busy_s": busy,
            "utilization": busy / (makespan * agents) if makespan > 0 else float("nan"),
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
