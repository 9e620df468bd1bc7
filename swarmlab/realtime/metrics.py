"""Execution metrics computed from what the dispatcher recorded (no pandas)."""

from __future__ import annotations

import math

from ..core.dispatcher import Dispatcher
from ..events import RESOURCE
from ..model import ExecutionMetrics, TaskStatus

__all__ = ["execution_metrics"]


def execution_metrics(d: Dispatcher, now: float, violations: dict[str, int] | None = None) -> ExecutionMetrics:
    """Counts from the terminal results, times from the attempt records, CPU and memory
    from the resource samples.

    The run's wall time goes from the first submission to the last terminal event (or
    to ``now`` while tasks are unfinished); throughput is completed tasks over it.
    """
    worker_i, gpu_i, cpu_i, mem_i = RESOURCE.worker, RESOURCE.gpu, RESOURCE.cpu_pct, RESOURCE.rss_mb
    # the tree's, not a Dask worker's or a GPU device's own (its gpu None, or NaN as rows read back)
    samples = [r for r in d.recorder.resources if r[worker_i] is None and (r[gpu_i] is None or r[gpu_i] != r[gpu_i])]
    peak_cpu = max((r[cpu_i] for r in samples), default=math.nan)
    peak_mem = max((r[mem_i] for r in samples), default=math.nan)
    counts = d.counts
    # kept by the dispatcher as attempts end: never a rescan of every attempt row
    run_total, wait_total, n_att = d.run_s_total, d.wait_s_total, d.attempts_ran
    first = d.first_submit_s
    if first is None:
        wall = 0.0
    else:
        end = now if d.n_unfinished or d.last_terminal_s is None else d.last_terminal_s
        wall = max(0.0, end - first)
    done = counts[TaskStatus.COMPLETED]
    return ExecutionMetrics(
        tasks_queued=d.n_waiting,
        tasks_running=d.n_running,
        tasks_completed=done,
        tasks_failed=counts[TaskStatus.FAILED],
        total_execution_time=run_total,
        average_execution_time=run_total / n_att if n_att else 0.0,
        peak_cpu_usage=peak_cpu,
        peak_memory_usage=peak_mem,
        throughput=done / wall if wall > 0 else 0.0,
        tasks_timed_out=counts[TaskStatus.TIMED_OUT],
        tasks_cancelled=counts[TaskStatus.CANCELLED],
        tasks_upstream_failed=counts[TaskStatus.UPSTREAM_FAILED],
        wall_time_s=wall,
        current_cpu_usage=samples[-1][cpu_i] if samples else math.nan,
        current_memory_usage=samples[-1][mem_i] if samples else math.nan,
        violations=dict(violations or {}),
        queue_wait_time=wait_total / n_att if n_att else 0.0,
    )
