"""RunRecord and the frames: the only place where columns and dtypes are defined.

Frames are built on demand from the recorder's tuples in one ``from_records`` call per
frame, never row by row. Every row carries ``run_id``; task rows also carry the
algorithm and mode, so comparing runs is one ``concat`` and one ``groupby``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..events import (ATTEMPT, ATTEMPT_FIELDS, EVENT, EVENT_FIELDS, REPORT_FIELDS, TASK_INFO, TASK_INFO_FIELDS,
                      EventCounts, Recorder)

if TYPE_CHECKING:  # pandas is imported when a frame is first built
    import pandas as pd

__all__ = ["RunRecord", "EVENT_COLUMNS", "COUNTED_EVENT_COLUMNS", "COUNTED_EVENT_FIELDS", "TASK_COLUMNS",
           "RESOURCE_COLUMNS", "ROW_KINDS", "event_count", "paused_gc"]

#: Columns of the events frame (one row per event).
EVENT_COLUMNS = ("run_id",) + EVENT_FIELDS
#: Fields of the rows of a run that counted events (``meta["events"]`` says so): one per
#: kind and time bucket (:meth:`swarmlab.events.EventCounts.rows`).
COUNTED_EVENT_FIELDS = ("t_s", "event", "count")
#: Columns of the events frame of a run that counted events.
COUNTED_EVENT_COLUMNS = ("run_id",) + COUNTED_EVENT_FIELDS
#: Columns of the tasks frame (one row per task and attempt); after them, one column per
#: name a body reported (``swarmlab.report``), which may therefore be none of these.
TASK_COLUMNS = (
    "run_id", "task_id", "name", "attempt", "status", "priority", "agent_id", "mode",
    "worker", "algorithm", "submitted_s", "ready_s", "started_s", "finished_s", "wait_s",
    "run_s", "error_type", "error", "devices", "kind", "estimate_s", "estimate_source", "requires", "dependencies",
)
#: Columns every resources frame has; samplers add their own after these.
RESOURCE_COLUMNS = ("run_id", "t_s")
#: The kinds of rows a record is built from (:meth:`RunRecord.rows`).
ROW_KINDS = ("events", "attempts", "task_info", "resources", "reports")

_CATEGORICAL = ("event", "status", "algorithm", "mode", "agent_id", "kind", "estimate_source")
_FLOAT = ("t_s", "submitted_s", "ready_s", "started_s", "finished_s", "wait_s", "run_s", "estimate_s")
_STRING = ("task_id", "name", "worker", "error_type", "error", "detail", "run_id", "devices")


_LISTS = ("requires", "dependencies")
_INFO = frozenset(TASK_INFO_FIELDS) - {"task_id"}  # columns of the tasks frame from the task info rows


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for the block (restored after). Building a
    frame from a large run's rows, or its figures, allocates millions of objects and
    frees none of them: every collector pass walks the run's live rows and finds nothing,
    and at 1M tasks those passes cost more than the build itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _frame(rows: list[tuple] | pd.DataFrame, fields: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a frame: tuples in one ``from_records`` call; a frame (read from a spilled
    run's parts) as it is, in a shallow copy (columns added later leave it alone)."""
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=list(fields)) if isinstance(rows, list) else rows.copy(deep=False)


def arrow_table(rows: list[tuple], fields: tuple[str, ...], first_seq: int = 0) -> Any:
    """The recorder's rows as a ``pyarrow.Table`` whose columns have the frames' types
    (a spilled run's parts are written from it: column by column, no DataFrame). An
    event's ``seq`` is its index, counted from ``first_seq``."""
    import numpy as np
    import pyarrow as pa

    columns = []
    for i, f in enumerate(fields):
        if f == "seq":
            columns.append(pa.array(np.arange(first_seq, first_seq + len(rows), dtype=np.int64)))
            continue
        col = list(map(itemgetter(i), rows))
        if f in _LISTS:
            columns.append(pa.array(col, pa.list_(pa.string())))
        elif f in _FLOAT:
            columns.append(pa.array(col, pa.float64()))
        elif f in _STRING or f in _CATEGORICAL:
            try:
                arr = pa.array(col, pa.string())
            except (pa.ArrowTypeError, pa.ArrowInvalid):  # not only str (a worker's pid): as text
                arr = pa.array([None if x is None else str(x) for x in col], pa.string())
            columns.append(arr.dictionary_encode() if f in _CATEGORICAL else arr)
        else:
            columns.append(pa.array(col))
    return pa.table(columns, names=list(fields))


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """Give each known column its dtype (files may lose them: Parquet keeps no empty
    categories and reads lists back as arrays)."""
    import pandas as pd

    for c in df.columns:
        if c in _LISTS:
            df[c] = df[c].map(list)
            continue
        if c in _CATEGORICAL:
            df[c] = df[c].astype("category")
        elif c in _FLOAT:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
        elif c == "devices":  # CSV reads "0" back as a number and "" as NaN
            df[c] = df[c].map(_devices_cell).astype("string")
        elif c in _STRING:
            df[c] = df[c].astype("string")
    return df


def _devices_cell(x: Any) -> str:
    """A ``devices`` cell as its text ("0,3", "" for none), whatever a file made of it."""
    if x is None or (isinstance(x, float) and x != x) or type(x).__name__ == "NAType":
        return ""
    if isinstance(x, (int, float)):
        return str(int(x))
    return str(x)


class RunRecord:
    """Everything recorded about one run: ``events``, ``tasks``, ``resources``, ``meta``.

    Built by :meth:`ParallelExecutor.record` (a snapshot) and :func:`simulate`. Frames
    are built on first access and cached.
    """

    def __init__(
        self,
        meta: dict[str, Any],
        events: list[tuple] | pd.DataFrame,
        attempts: list[tuple] | pd.DataFrame,
        resources: list[tuple] | pd.DataFrame | None = None,
        resource_fields: tuple[str, ...] = ("t_s",),
        task_info: list[tuple] | pd.DataFrame | None = None,
        counted: bool = False,
        reports: list[tuple] | pd.DataFrame | None = None,
    ) -> None:
        self.meta = meta
        self._counted = counted
        self._events = events
        self._attempts = attempts
        self._task_info = [] if task_info is None else task_info
        self._resources = [] if resources is None else resources
        self._reports = [] if reports is None else reports
        self._resource_fields = resource_fields
        self._frames: dict[str, pd.DataFrame] = {}
        self._columns: dict[str, Any] = {}  # columns of the tasks frame built alone (columns())
        self._last: Any = None  # which rows of the tasks frame are the last of their task (final())

    @classmethod
    def from_recorder(cls, recorder: Recorder, meta: dict[str, Any]) -> RunRecord:
        """A snapshot: later records do not change it."""
        ev = recorder.events
        if isinstance(ev, EventCounts):
            meta = dict(meta, events=f"counted per {ev.bucket_s:g} s")
            return cls(meta, ev.rows(), list(recorder.attempts), list(recorder.resources),
                       recorder.resource_fields, list(recorder.task_info), counted=True,
                       reports=list(recorder.reports))
        return cls(
            dict(meta), list(recorder.events), list(recorder.attempts),
            list(recorder.resources), recorder.resource_fields, list(recorder.task_info),
            reports=list(recorder.reports),
        )

    @classmethod
    def from_frames(cls, meta: dict[str, Any], frames: dict[str, pd.DataFrame]) -> RunRecord:
        """A record whose frames were built elsewhere (loaded from disk, say)."""
        rec = cls(dict(meta), [], [])
        rec._frames.update({name: typed(df) for name, df in frames.items()})
        return rec

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def rows(self, kind: str) -> tuple[tuple, ...] | pd.DataFrame:
        """The rows of one kind this record was built from, for code that merges or
        rewrites records (:func:`swarmlab.resume`) rather than reading frames.

        ``kind`` is one of :data:`ROW_KINDS`: ``"events"``, ``"attempts"``, ``"task_info"``,
        ``"reports"`` (rows in the field order of :mod:`swarmlab.events`: read them by name,
        ``row[ATTEMPT.status]``) or ``"resources"`` (in the order of
        :attr:`resource_fields`). Rows held in memory come as a tuple of them (a
        snapshot: the record keeps its own); rows read back from a spilled run's parts
        come as the frame they were read into. A record built from frames
        (:meth:`from_frames`, a loaded run) has no rows: its frames are all it holds.
        A record that counted events (``meta["events"]``) holds ``(t_s, event, count)``
        rows for ``"events"`` (:data:`COUNTED_EVENT_FIELDS`).
        """
        held = {"events": self._events, "attempts": self._attempts, "task_info": self._task_info,
                "resources": self._resources, "reports": self._reports}.get(kind)
        if held is None:
            raise ValueError(f"kind must be one of {', '.join(map(repr, ROW_KINDS))}; got {kind!r}")
        return tuple(held) if isinstance(held, list) else held

    @property
    def resource_fields(self) -> tuple[str, ...]:
        """The field order of the ``"resources"`` rows (:meth:`rows`)."""
        return self._resource_fields

    @property
    def events(self) -> pd.DataFrame:
        """One row per event: run_id, seq, t_s, event, task_id, agent_id, detail. A run
        that counted events instead has one row per kind and time bucket: run_id, t_s
        (the bucket's start), event, count."""
        if "events" not in self._frames:
            import pandas as pd

            if self._counted:
                df = pd.DataFrame.from_records(self._events, columns=list(COUNTED_EVENT_FIELDS))
                df.insert(0, "run_id", self.run_id)
                df["count"] = df["count"].astype("int64")
            else:
                df = _frame(self._events, EVENT_FIELDS)
                df.insert(0, "run_id", self.run_id)
                df["seq"] = df["seq"].astype("int64")
            self._frames["events"] = typed(df)
        return self._frames["events"]

    def count(self, kind: str) -> int:
        """How many events of ``kind`` the run recorded, listed or counted: what
        :func:`event_count` finds in :attr:`events`, read from the rows held in memory
        without building the events frame (summary's ``stolen``: the frame of a run of
        1M tasks costs more than the rest of its figures)."""
        held = self._events
        if "events" in self._frames or not isinstance(held, list):
            return event_count(self.events, kind)
        if self._counted:
            return sum(n for _, k, n in held if k == kind)
        return list(map(itemgetter(EVENT.event), held)).count(kind)

    @property
    def tasks(self) -> pd.DataFrame:
        """One row per task and attempt; ``wait_s`` = started - ready, ``run_s`` =
        finished - started (NaN for an attempt that never started); ``kind``,
        ``estimate_s``, ``requires`` and ``dependencies`` (lists of str) as submitted;
        ``estimate_source`` says where the estimate the schedulers used came from:
        ``given`` (the task's), ``learned`` (an estimator's prediction, in ``estimate_s``)
        or ``default`` (none: ``estimate_s`` is NaN and the task weighed 1 s). After
        :data:`TASK_COLUMNS`, one float column per name a body reported
        (``swarmlab.report``), in name order: the attempt's sum, NaN where it reported
        nothing of that name."""
        if "tasks" not in self._frames:
            import pandas as pd

            with paused_gc():
                df = None
                if isinstance(self._attempts, list) and self._attempts and isinstance(self._task_info, list):
                    built = self._columns  # the ones columns() built already
                    cols = _task_columns(self._attempts, self._task_info, TASK_COLUMNS, self.run_id,
                                         self.meta.get("algorithm"), built)
                    df = None if cols is None else pd.DataFrame(cols)
                if df is None:  # rows read back as frames (a spilled run), or an attempt without its task's info
                    df = self._merged_tasks()
                reports = _frame(self._reports, REPORT_FIELDS)
                if len(reports):
                    df = _with_reports(df, reports)
            self._frames["tasks"] = df
        return self._frames["tasks"]

    def _merged_tasks(self) -> pd.DataFrame:
        """The tasks frame before reported columns, by a merge of the attempts and the
        task info frames (rows read back as frames; :func:`_task_columns` builds the
        same columns from rows held in memory, one by one)."""
        df = _frame(self._attempts, ATTEMPT_FIELDS)
        info = _frame(self._task_info, TASK_INFO_FIELDS)
        # a task predicted again as it became ready has a later row: the last one holds
        info = info.loc[~info["task_id"].duplicated(keep="last")]
        df = df.merge(info, on="task_id", how="left", validate="many_to_one")
        df.insert(0, "run_id", self.run_id)
        df["algorithm"] = self.meta.get("algorithm")
        df = typed(df)
        df["wait_s"] = df["started_s"] - df["ready_s"]
        df["run_s"] = df["finished_s"] - df["started_s"]
        df["attempt"] = df["attempt"].astype("int64")
        df["priority"] = df["priority"].astype("int64")
        return df[list(TASK_COLUMNS)]

    @property
    def resources(self) -> pd.DataFrame:
        """One row per resource sample (empty for simulated runs)."""
        if "resources" not in self._frames:
            df = _frame(self._resources, self._resource_fields)
            if "run_id" not in df.columns:
                df.insert(0, "run_id", self.run_id)
            self._frames["resources"] = typed(df)
        return self._frames["resources"]

    @property
    def reported(self) -> bool:
        """Whether the tasks frame has columns after :data:`TASK_COLUMNS` (names bodies
        reported), known from the rows held in memory without building the frame."""
        if "tasks" not in self._frames and isinstance(self._reports, list) and isinstance(self._attempts, list) \
                and self._attempts:
            return bool(self._reports)
        return len(self.tasks.columns) > len(TASK_COLUMNS)

    def columns(self, names: Iterable[str]) -> pd.DataFrame:
        """Some columns of :attr:`tasks` (``names``, of :data:`TASK_COLUMNS`), for figures
        that read few of them: taken from the frame once it is built (or loaded), else
        built from the rows held in memory, only those, and kept for the next call (a
        summary of 1M tasks reads 10 of the 24 columns and needs neither their lists of
        requirements nor their text).

        Raises
        ------
        ValueError
            A name that is not one of :data:`TASK_COLUMNS`.
        """
        import pandas as pd

        names = list(names)
        unknown = [c for c in names if c not in TASK_COLUMNS]
        if unknown:
            raise ValueError(f"columns takes names of the tasks frame ({', '.join(TASK_COLUMNS)}); got {unknown}; "
                             "read a reported column from record.tasks")
        if "tasks" not in self._frames and isinstance(self._attempts, list) and self._attempts \
                and isinstance(self._task_info, list):
            missing = [c for c in names if c not in self._columns]
            got: dict[str, Any] | None = {}
            if missing:
                with paused_gc():
                    got = _task_columns(self._attempts, self._task_info, missing, self.run_id,
                                        self.meta.get("algorithm"), self._columns)
            if got is not None:
                self._columns.update(got)
                return pd.DataFrame({c: self._columns[c] for c in names}, copy=_shared(pd))
        return self.tasks[names]

    def final(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The last attempt row of each task: one row per task, its terminal status.
        ``columns``: only those (:meth:`columns`; ``task_id`` is read in any case)."""
        t = self.tasks if columns is None else self.columns(dict.fromkeys(["task_id", *columns]))
        last = self._last_rows(t)
        if columns is not None and last.all():  # (a frame of its own: no copy of 1M rows)
            return t
        return t.loc[last].reset_index(drop=True)

    def one_row_each(self) -> bool:
        """Whether no task has more than one attempt row (none retried, none run again
        after a kill): each row is then its task's last (:meth:`final`)."""
        return bool(self._last_rows(self.columns(["task_id"])).all())

    def _last_rows(self, t: pd.DataFrame) -> Any:
        """Which rows of ``t`` (the tasks frame, or columns of it) are the last of their
        task, found once: from the rows held in memory by a dict of ids (none repeated,
        the usual case: every row), else from the frame's ids."""
        if self._last is None or len(self._last) != len(t):
            self._last = self._find_last(t)
        return self._last

    def _find_last(self, t: pd.DataFrame) -> Any:
        import numpy as np

        held = self._attempts
        if isinstance(held, list) and len(held) == len(t) and len(held):
            ids = list(map(itemgetter(ATTEMPT.task_id), held))
            if len(set(ids)) == len(ids):
                return np.ones(len(ids), dtype=bool)
            last = dict(zip(ids, range(len(ids))))  # each id's last row
            mask = np.zeros(len(ids), dtype=bool)
            mask[np.fromiter(last.values(), dtype=np.intp, count=len(last))] = True
            return mask
        return (~t["task_id"].duplicated(keep="last")).to_numpy()

    def dependencies(self) -> dict[str, Sequence[str]]:
        """Task id -> the ids it depends on, as submitted, for each task that has some (a
        task without is no key): from the task info rows held in memory (a task's last
        row holds), else from :meth:`final`. A critical path reads it without the frame's
        column of lists (1M of them, empty, in a run of independent tasks)."""
        info = self._task_info
        if "tasks" not in self._frames and isinstance(info, list) and info and isinstance(self._attempts, list):
            deps = TASK_INFO.dependencies
            if not any(map(itemgetter(deps), info)):
                return {}
            return {row[TASK_INFO.task_id]: row[deps] for row in info if row[deps]}
        final = self.final(["dependencies"])
        return {tid: d for tid, d in zip(final["task_id"].tolist(), final["dependencies"].tolist()) if len(d)}

    def __repr__(self) -> str:
        return (
            f"RunRecord(run_id={self.run_id!r}, mode={self.meta.get('mode')!r}, "
            f"algorithm={self.meta.get('algorithm')!r}, tasks={self.tasks['task_id'].nunique()})"
        )


def _shared(pd: Any) -> bool | None:
    """``copy=`` for a frame of columns the record keeps (:meth:`RunRecord.columns`): with
    pandas 3's copy-on-write, writing to the frame copies, so it may hold the kept arrays
    themselves (False: no copy of 1M rows into blocks, a tenth of a summary); before, a
    frame's own copy (None)."""
    return False if int(pd.__version__.split(".", 1)[0]) >= 3 else None


def _task_columns(attempts: list[tuple], task_info: list[tuple], names: Iterable[str], run_id: str,
                  algorithm: Any, built: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Columns of the tasks frame (those ``names`` of :data:`TASK_COLUMNS`), built one by
    one from rows held in memory: each attempt's task info found through a dict (the last
    row of a task holds, as in the merge of :meth:`RunRecord._merged_tasks`), each column
    made once with the dtype :func:`typed` gives it, with no row-wise frame, merge or
    per-cell map. ``built``: columns built before, that these may be made from (``run_s``
    from ``started_s`` and ``finished_s``). None when an attempt has no task info row: the
    merge says what that gives."""
    import numpy as np
    import pandas as pd

    names = list(names)
    n = len(attempts)
    task_ids = list(map(itemgetter(ATTEMPT.task_id), attempts)) if "task_id" in names or set(names) & _INFO else []
    info: list[tuple] = []
    if set(names) & _INFO:
        by_id = dict(zip(map(itemgetter(TASK_INFO.task_id), task_info), task_info))  # the last row of a task holds
        try:
            info = list(map(by_id.__getitem__, task_ids))
        except KeyError:
            return None
    cols: dict[str, Any] = dict(built or {})

    def values(c: str) -> list:
        if c == "task_id":
            return task_ids
        if c in ATTEMPT_FIELDS:
            return list(map(itemgetter(ATTEMPT_FIELDS.index(c)), attempts))
        return list(map(itemgetter(TASK_INFO_FIELDS.index(c)), info))

    def column(c: str) -> Any:
        if c not in cols:
            if c == "run_id":
                cols[c] = pd.Series(run_id, index=range(n)).astype("string")
            elif c == "algorithm":
                cols[c] = pd.Series(algorithm, index=range(n)).astype("category")
            elif c == "wait_s":
                cols[c] = column("started_s") - column("ready_s")
            elif c == "run_s":
                cols[c] = column("finished_s") - column("started_s")
            elif c in _LISTS:
                cols[c] = pd.Series(list(map(list, values(c))), dtype=object)
            elif c in _FLOAT and c in ATTEMPT_FIELDS:
                try:  # (no list in between)
                    cols[c] = np.fromiter(map(itemgetter(ATTEMPT_FIELDS.index(c)), attempts), np.float64, n)
                except (TypeError, ValueError):  # a None (an attempt that never started): NaN
                    cols[c] = np.array(values(c), dtype=np.float64)
            elif c in _FLOAT:
                cols[c] = np.array(values(c), dtype=np.float64)
            elif c in _CATEGORICAL:
                cat = pd.Categorical(values(c))  # (as astype("category") makes it, in a third of the time)
                cols[c] = pd.Series(cat) if len(cat.categories) else pd.Series(values(c)).astype("category")
            elif c == "devices":
                got = values(c)
                if not all(type(x) is str for x in got):
                    got = list(map(_devices_cell, got))
                cols[c] = pd.Series(got, dtype=object).astype("string")
            elif c in _STRING:
                cols[c] = pd.Series(values(c)).astype("string")
            else:  # attempt, priority
                cols[c] = np.array(values(c), dtype=np.int64)
        return cols[c]

    return {c: column(c) for c in names}


def _with_reports(tasks: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    """``tasks`` with one column per reported name, in one pivot of the long report rows
    (a resumed run's rows of one attempt are summed, as the attempt summed its calls)."""
    reports = reports.astype({"attempt": "int64", "value": "float64"})
    wide = reports.pivot_table(index=["task_id", "attempt"], columns="name", values="value", aggfunc="sum")
    wide.columns = [str(c) for c in wide.columns]
    wide = wide.reset_index().astype({"task_id": tasks["task_id"].dtype})
    out = tasks.merge(wide, on=["task_id", "attempt"], how="left", validate="many_to_one")
    return out.astype({c: "float64" for c in wide.columns[2:]})


def event_count(events: pd.DataFrame, kind: str) -> int:
    """How many events of ``kind`` a run's events frame holds, listed or counted."""
    hit = events["event"] == kind
    return int(events.loc[hit, "count"].sum()) if "count" in events.columns else int(hit.sum())
