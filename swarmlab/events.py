"""The recorder: append-only lists of plain tuples, the single way facts leave the engine.

Records are appended on the driver's thread (the event loop for real runs) to plain
lists; DataFrames are built from them on demand by :mod:`swarmlab.store.records`, in one call.
Live readers poll nothing: they ask ``since(seq)`` for what came after the last event
they saw.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections import Counter
from itertools import islice, repeat
from operator import floordiv, itemgetter, le
from typing import Any

__all__ = ["Recorder", "EventCounts", "Fields", "new_run_id", "row_builder",
           "EVENT_SCHEMA", "ATTEMPT_SCHEMA", "TASK_INFO_SCHEMA", "RESOURCE_SCHEMA", "REPORT_SCHEMA",
           "EVENT_FIELDS", "ATTEMPT_FIELDS", "TASK_INFO_FIELDS", "RESOURCE_FIELDS", "REPORT_FIELDS",
           "EVENT", "ATTEMPT", "TASK_INFO", "RESOURCE", "REPORT", "attempt_row", "task_info_row", "resource_row",
           "report_row"]

# What a field may hold when a row is read back from a journal (checked field by field).
NUM, STR, NONE = (int, float), (str,), (type(None),)
ANY = object  # anything JSON holds

#: Each kind of row: its fields in order, and what each may hold once read back. These
#: five mappings are the only place a row's fields are defined: the tuples below, the
#: positions (:class:`Fields`), the builders, the frames' columns and the journal's checks
#: are all derived from them.
EVENT_SCHEMA: dict[str, Any] = {
    "seq": int, "t_s": NUM, "event": STR, "task_id": STR + NONE, "agent_id": STR + NONE, "detail": ANY,
}
#: One row per task and attempt (1-based). A task that never ran (cancelled while waiting,
#: upstream_failed) has one row with no start. ``devices``: the GPU devices the attempt
#: held, as text ("0,3"; "" for none): a string survives Parquet, CSV and the journal's
#: JSON alike, where a list would come back from CSV as its repr.
ATTEMPT_SCHEMA: dict[str, Any] = {
    "task_id": STR, "name": STR + NONE, "attempt": int, "status": STR, "priority": int,
    "agent_id": STR + NONE, "mode": STR + NONE, "worker": ANY,
    "submitted_s": NUM + NONE, "ready_s": NUM + NONE, "started_s": NUM + NONE, "finished_s": NUM + NONE,
    "error_type": STR + NONE, "error": STR + NONE, "devices": STR,
}
#: What was declared at submission (one per task), and where its estimate came from:
#: "given", "learned" (an estimator's) or "default" (none).
TASK_INFO_SCHEMA: dict[str, Any] = {
    "task_id": STR, "kind": STR + NONE, "estimate_s": NUM + NONE, "requires": list, "dependencies": list,
    "estimate_source": STR,
}
#: One resource sample per monitoring interval. The measurements are NaN where not
#: measured (GPU fields when no GPU is seen); ``gpu_tree_mem_mb`` is the GPU memory of the
#: executor's processes; ``throttled`` is a bool; ``worker`` is None for the executor's own
#: process tree and a Dask worker's address for that worker's rows (DASK mode); ``gpu`` is
#: None (NaN in the frame) for those rows and a device index for a device's own row (one
#: per device NVML sees, each sample: its utilisation, memory used, and memory the
#: executor's processes hold on it, in the ``gpu_*`` fields; the others NaN).
RESOURCE_SCHEMA: dict[str, Any] = {
    **dict.fromkeys((
        "t_s", "cpu_pct", "rss_mb", "n_procs", "sys_cpu_pct", "sys_mem_pct", "net_sent_bytes",
        "net_recv_bytes", "disk_read_bytes", "disk_write_bytes", "gpu_util_pct", "gpu_mem_mb",
        "gpu_tree_mem_mb", "sample_cost_ms"), NUM + NONE),
    "running": NUM, "queued": NUM, "throttled": ANY, "worker": STR + NONE, "gpu": NUM + NONE,
}
#: What a body reported (``swarmlab.report(tokens=...)``), long format: one row per
#: attempt and name, the value summed over the attempt's calls. The tasks frame turns
#: them into one column per name (:mod:`swarmlab.store.records`).
REPORT_SCHEMA: dict[str, Any] = {"task_id": STR, "attempt": int, "name": STR, "value": NUM}

#: Field order of each kind of row.
EVENT_FIELDS = tuple(EVENT_SCHEMA)
ATTEMPT_FIELDS = tuple(ATTEMPT_SCHEMA)
TASK_INFO_FIELDS = tuple(TASK_INFO_SCHEMA)
RESOURCE_FIELDS = tuple(RESOURCE_SCHEMA)
REPORT_FIELDS = tuple(REPORT_SCHEMA)


class Fields:
    """Where each field of one kind of row stands: ``ATTEMPT.status`` is the position of
    the status in an attempt row. Rows stay plain tuples (cheap to build, to keep by the
    million and to turn into a DataFrame in one call); code reads them by name through
    these positions."""

    def __init__(self, names: tuple[str, ...]) -> None:
        for i, name in enumerate(names):
            setattr(self, name, i)


EVENT, ATTEMPT, TASK_INFO, RESOURCE, REPORT = (Fields(f) for f in (EVENT_FIELDS, ATTEMPT_FIELDS, TASK_INFO_FIELDS,
                                                                   RESOURCE_FIELDS, REPORT_FIELDS))


def row_builder(name: str, fields: tuple[str, ...]) -> Any:
    """A function that takes every field of a row by keyword and returns the row, a tuple
    in field order; generated once from ``fields``, as :func:`collections.namedtuple`
    makes its ``__new__``, so a row is written by name for the cost of one call."""
    params = ", ".join(fields)
    ns: dict[str, Any] = {}
    exec(f"def {name}(*, {params}):\n    return ({params},)", ns)  # noqa: S102 - the names are ours
    fn = ns[name]
    fn.__doc__ = f"A row of {', '.join(fields)}, given by name."
    return fn


attempt_row = row_builder("attempt_row", ATTEMPT_FIELDS)
task_info_row = row_builder("task_info_row", TASK_INFO_FIELDS)
resource_row = row_builder("resource_row", RESOURCE_FIELDS)
report_row = row_builder("report_row", REPORT_FIELDS)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class EventCounts(list):
    """Stands in for the event list of a run that keeps counts, not events: how many
    events of each kind fell in each ``bucket_s`` of time.

    Appends are plain list appends (the dispatcher's hot path pays nothing more); the
    driver calls :meth:`fold` now and then (``simulate`` does every ``FOLD_AT`` events),
    which turns the pending rows into counts, so memory stays bounded. Its ``seen`` is
    the number of events seen; live readers get nothing from it.
    """

    __slots__ = ("bucket_s", "folded", "counts")

    #: Pending rows beyond which the driver folds them into counts. Small on purpose: the
    #: rows are counted while still in the CPU's cache and their memory is reused at once
    #: (at 1M tasks, 1,024 runs about 10% faster than 65,536).
    FOLD_AT = 1024

    def __init__(self, bucket_s: float) -> None:
        super().__init__()
        self.bucket_s = bucket_s
        self.folded = 0
        self.counts: Counter[tuple[str, int]] = Counter()

    def fold(self) -> None:
        """Count the pending rows by (kind, bucket) and drop them (in C loops).

        Rows come in time order from a driver whose clock never goes back (checked): each
        bucket's rows are then one slice, found by bisection, whose kinds are counted at
        once. Rows out of order, or spread over very many buckets, are counted one by one.
        """
        n = len(self)
        if not n:
            return
        b, counts = self.bucket_s, self.counts
        times = list(map(itemgetter(1), self))
        first, last = times[0] // b, times[-1] // b
        if last - first < n >> 6 and all(map(le, times, islice(times, 1, None))):
            kinds = list(map(itemgetter(2), self))
            lo = 0
            while lo < n:
                bucket = times[lo] // b
                hi = bisect_left(times, bucket + 1, lo, n, key=lambda t: t // b)
                for kind, k in Counter(islice(kinds, lo, hi)).items():
                    counts[kind, int(bucket)] += k
                lo = hi
        else:
            counts.update(zip(map(itemgetter(2), self), map(int, map(floordiv, times, repeat(b)))))
        self.folded += n
        self.clear()

    @property
    def seen(self) -> int:
        return self.folded + len(self)

    def rows(self) -> list[tuple[float, str, int]]:
        """(bucket start t_s, event, count), in time then kind order."""
        self.fold()
        return [(b * self.bucket_s, kind, n) for (kind, b), n in sorted(self.counts.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


class Recorder:
    """Append-only event, attempt, task, resource and report records of one run.

    ``seq`` of an event is its index in :attr:`events`. With ``aggregate_s`` set, events
    are only counted per kind and time bucket (:class:`EventCounts`): a run of millions
    of tasks keeps its tasks frame and a bounded event summary.

    A run that spills (:mod:`swarmlab.store.spill`) drops the rows it has written with
    :meth:`drop`: ``dropped`` counts them per list, and the ``seq`` of an event still in
    memory is then counted from the first row kept (add ``dropped["events"]``).
    """

    __slots__ = ("run_id", "events", "attempts", "task_info", "resources", "resource_fields", "reports", "dropped")

    def __init__(self, run_id: str | None = None, aggregate_s: float | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.events: list[tuple] | EventCounts = [] if aggregate_s is None else EventCounts(aggregate_s)
        self.attempts: list[tuple] = []
        self.task_info: list[tuple] = []
        self.resources: list[tuple] = []
        self.resource_fields: tuple[str, ...] = RESOURCE_FIELDS
        self.reports: list[tuple] = []  # what bodies reported (REPORT_FIELDS): none unless one does
        self.dropped = dict.fromkeys(("events", "attempts", "task_info", "reports"), 0)

    def emit(
        self,
        t_s: float,
        event: str,
        task_id: str | None = None,
        agent_id: str | None = None,
        detail: Any = None,
    ) -> None:
        """Append one event (its seq in the run is ``len(self)`` before the call)."""
        ev = self.events
        ev.append((len(ev), t_s, event, task_id, agent_id, detail))

    def since(self, seq: int) -> list[tuple]:
        """Events whose seq is >= ``seq`` still in memory (for live readers that keep the
        next seq), with their seq in the run; nothing when events are counted."""
        ev = self.events
        if isinstance(ev, EventCounts):
            return []
        base = self.dropped["events"]
        rows = ev[max(0, seq - base):]
        return [(r[0] + base,) + r[1:] for r in rows] if base else rows

    def drop(self) -> None:
        """Take the events, attempts, task and report rows out of memory (once written),
        counting them in ``dropped``. The lists are emptied in place (the dispatcher holds them)."""
        d = self.dropped
        for name, rows in (("events", self.events), ("attempts", self.attempts), ("task_info", self.task_info),
                           ("reports", self.reports)):
            d[name] += len(rows)
            rows.clear()

    def __len__(self) -> int:
        """Events recorded (or counted) so far."""
        ev = self.events
        return ev.seen if isinstance(ev, EventCounts) else len(ev) + self.dropped["events"]
