"""The recorder: append-only lists of plain tuples, the single way facts leave the engine.

Records are appended on the driver's thread (the event loop for real runs) to plain
lists; DataFrames are built from them on demand by :mod:`swarmlab.records`, in one call.
Live readers poll nothing: they ask ``since(seq)`` for what came after the last event
they saw.
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["Recorder", "EVENT_FIELDS", "ATTEMPT_FIELDS", "TASK_INFO_FIELDS", "RESOURCE_FIELDS", "new_run_id"]

#: Field order of one event tuple.
EVENT_FIELDS = ("seq", "t_s", "event", "task_id", "agent_id", "detail")

#: Field order of one attempt tuple: one per task and attempt (1-based). A task that
#: never ran (cancelled while waiting, upstream_failed) has one row with no start.
ATTEMPT_FIELDS = (
    "task_id",
    "name",
    "attempt",
    "status",
    "priority",
    "agent_id",
    "mode",
    "worker",
    "submitted_s",
    "ready_s",
    "started_s",
    "finished_s",
    "error_type",
    "error",
)

#: Field order of one task tuple: what was declared at submission (one per task).
TASK_INFO_FIELDS = ("task_id", "kind", "estimate_s", "requires", "dependencies")

#: Field order of one resource sample (one per monitoring interval). GPU fields are NaN
#: when no GPU is seen; ``gpu_tree_mem_mb`` is the GPU memory of the executor's processes.
RESOURCE_FIELDS = (
    "t_s", "cpu_pct", "rss_mb", "n_procs", "sys_cpu_pct", "sys_mem_pct", "net_sent_bytes",
    "net_recv_bytes", "disk_read_bytes", "disk_write_bytes", "gpu_util_pct", "gpu_mem_mb",
    "gpu_tree_mem_mb", "sample_cost_ms", "running", "queued", "throttled",
)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class Recorder:
    """Append-only event, attempt, task and resource records of one run.

    ``seq`` of an event is its index in :attr:`events`.
    """

    __slots__ = ("run_id", "events", "attempts", "task_info", "resources", "resource_fields")

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.events: list[tuple] = []
        self.attempts: list[tuple] = []
        self.task_info: list[tuple] = []
        self.resources: list[tuple] = []
        self.resource_fields: tuple[str, ...] = RESOURCE_FIELDS

    def emit(
        self,
        t_s: float,
        event: str,
        task_id: str | None = None,
        agent_id: str | None = None,
        detail: Any = None,
    ) -> int:
        """Append one event; returns its seq."""
        ev = self.events
        seq = len(ev)
        ev.append((seq, t_s, event, task_id, agent_id, detail))
        return seq

    def since(self, seq: int) -> list[tuple]:
        """Events whose seq is >= ``seq`` (for live readers that keep the next seq)."""
        return self.events[seq:]

    def __len__(self) -> int:
        return len(self.events)
