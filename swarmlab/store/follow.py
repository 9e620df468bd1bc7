"""Following runs from their journals while they are written.

:class:`JournalFollower` remembers how far it has read a ``journal.jsonl`` and, at each
:meth:`~JournalFollower.poll`, reads only the complete lines appended since its last look
(at most ``max_bytes`` of them, so a backlog is caught up over a few looks at a bounded
cost each). It opens the file read-only for each look and takes no lock: the run writing
it never waits and never sees a reader. A line that fails its check is reported as
damaged (its number and first bytes), never raised; an unfinished last line is left for
the next look.

:class:`RunProgress` keeps what a follower returns as the rows of a run record, so a live
view computes its figures from them with the very function that computes a saved run's
(:func:`swarmlab.analysis.figures.run_figures`); it keeps the header's meta (algorithm, mode,
limits) and the throttled spans. :func:`scan_store` lists a store's run folders.

The dashboard's page (:mod:`swarmlab.ui.dashboard`) draws from these.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import positive_int
from ..events import EVENT, RESOURCE, RESOURCE_FIELDS
from ..model import TERMINAL_STATES
from .journal import CRC_MARK, JOURNAL_NAME, ROW_SCHEMAS, decode_line, legacy_task_row
from .records import RunRecord

__all__ = ["JournalFollower", "Appended", "DamagedLine", "RunProgress", "RunFolder", "scan_store",
           "MAX_BYTES", "SHOWN_DAMAGED", "KEPT_EVENTS"]

#: What one look reads at most: about 6,000 lines, parsed in a few tens of milliseconds,
#: so a view that follows many runs stays responsive while it catches up with a backlog.
MAX_BYTES = 1 << 20
#: Damaged lines kept (and shown) per run; the others are only counted.
SHOWN_DAMAGED = 20
#: The first bytes of a damaged line kept to show it.
_SHOWN_BYTES = 80
_ROW_LEN = {kind: len(schema) for kind, schema in ROW_SCHEMAS.items()}


def _decode_many(lines: list[bytes], need_crc: bool = True) -> list[dict[str, Any] | None]:
    """:func:`~swarmlab.store.journal.decode_line` of each line, the common case at a fraction
    of its cost: a row line whose checksum holds was written whole by a Journal, so the
    bodies of those are parsed in one JSON call and their rows only checked for kind and
    length. Any other line (no checksum, a failed one, a header or end line) is decoded
    and checked in full, on its own."""
    out: list[dict[str, Any] | None] = [None] * len(lines)
    bodies, where = [], []
    for i, raw in enumerate(lines):
        at = raw.rfind(CRC_MARK)
        if at != -1 and raw[-1:] == b"}" and raw.startswith((b'{"type": "event"', b'{"type": "attempt"',
                                                              b'{"type": "task"', b'{"type": "resource"')):
            body = raw[:at] + b"}"
            try:
                intact = zlib.crc32(body) == int(raw[at + len(CRC_MARK):-1])
            except ValueError:
                intact = False
            if intact:
                bodies.append(body)
                where.append(i)
                continue
        out[i] = decode_line(raw, need_crc)
    try:
        objs = json.loads(b"[" + b",".join(bodies) + b"]") if bodies else []
    except ValueError:  # cannot be, as the checksums hold; but then: one by one
        objs = [decode_line(lines[i], need_crc) for i in where]
    for i, obj in zip(where, objs):
        row = obj.get("row") if isinstance(obj, dict) else None
        if isinstance(obj, dict) and obj.get("type") == "task":
            legacy_task_row(row)
        if isinstance(row, list) and len(row) == _ROW_LEN.get(obj.get("type"), -1):
            out[i] = obj
    return out


@dataclass(frozen=True, slots=True)
class DamagedLine:
    """A journal line that failed its check: its 1-based number and its first bytes."""

    line: int
    text: str

    @classmethod
    def of(cls, line: int, raw: bytes) -> DamagedLine:
        shown = repr(raw[:_SHOWN_BYTES])[2:-1]
        return cls(line, shown + ("..." if len(raw) > _SHOWN_BYTES else ""))


@dataclass(slots=True)
class Appended:
    """What one look found: the intact rows of each kind, in file order, the header and
    the end line when they were among them, and the damaged lines. ``restarted``: the file
    was replaced or cut short since the last look, so these rows start from its beginning."""

    header: dict[str, Any] | None = None
    task: list[tuple] = field(default_factory=list)
    attempt: list[tuple] = field(default_factory=list)
    event: list[tuple] = field(default_factory=list)
    resource: list[tuple] = field(default_factory=list)
    end: dict[str, Any] | None = None
    damaged: list[DamagedLine] = field(default_factory=list)
    restarted: bool = False
    lines: int = 0

    def __bool__(self) -> bool:
        return bool(self.lines or self.restarted)


class JournalFollower:
    """Reads what was appended to one journal since the last :meth:`poll`.

    Parameters
    ----------
    path : path
        The ``journal.jsonl`` (it need not exist yet).
    max_bytes : int
        The most one look reads (a longer line is put together over several looks).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from swarmlab.store.journal import encode_line
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.jsonl"
    >>> follower = JournalFollower(path)
    >>> bool(follower.poll())  # no file yet: nothing, no error
    False
    >>> _ = path.write_text(encode_line({"type": "header", "run_id": "r1", "meta": {}, "spec": None}))
    >>> follower.poll().header["run_id"]
    'r1'
    >>> with open(path, "a") as f:
    ...     _ = f.write('{"type": "event", "row": [0, 0.5, "submit')  # a line being written
    >>> follower.poll().event, follower.unfinished > 0
    ([], True)
    """

    def __init__(self, path: str | Path, *, max_bytes: int = MAX_BYTES) -> None:
        positive_int(max_bytes, "max_bytes")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.bytes_read = 0  # every byte read from the file (none twice)
        self._reset()
        self._file_id: tuple[int, int] | None = None

    def _reset(self) -> None:
        self.offset = 0  # just past the last complete line read
        self.lines = 0
        self.size = 0  # the file's size at the last look
        self.header: dict[str, Any] | None = None
        self.end: dict[str, Any] | None = None
        self._pending = b""  # read past the last complete line: the start of the next one
        self._need_crc = True  # every line has a checksum, unless the header has none
        self._behind = False

    @property
    def behind(self) -> bool:
        """Whether the last look stopped at ``max_bytes`` with more left to read."""
        return self._behind

    @property
    def unfinished(self) -> int:
        """Bytes after the last complete line: a line being written, or one torn by a kill."""
        return 0 if self._behind else self.size - self.offset

    def poll(self) -> Appended:
        """The rows of the complete lines appended since the last call (or since the
        beginning, on the first call or when the file was replaced or truncated)."""
        out = Appended()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return out
        file_id = (st.st_dev, st.st_ino)
        if self._file_id is not None and (file_id != self._file_id or st.st_size < self.offset + len(self._pending)):
            self._reset()
            out.restarted = True
        self._file_id = file_id
        at = self.offset + len(self._pending)  # read on from there: no byte is read twice
        self.size = max(st.st_size, at)
        if st.st_size == at:
            self._behind = False
            return out
        with open(self.path, "rb") as f:  # read-only and unlocked: the writer never waits
            f.seek(at)
            new = f.read(self.max_bytes)
        self.bytes_read += len(new)
        # the writer may have appended since the stat: what was read is there too
        self.size = max(self.size, at + len(new))
        self._behind = len(new) == self.max_bytes and at + len(new) < self.size
        data = self._pending + new
        last = data.rfind(b"\n")
        if last == -1:
            self._pending = data
            return out
        self._pending = data[last + 1:]
        self.offset += last + 1
        lines = data[:last].split(b"\n")
        rows = {"task": out.task, "attempt": out.attempt, "event": out.event, "resource": out.resource}
        if self.lines == 0:  # a journal written before checksums existed has none anywhere
            self._need_crc = CRC_MARK in lines[0]
        for raw, obj in zip(lines, _decode_many(lines, self._need_crc)):
            self.lines += 1
            kind = obj["type"] if obj is not None else None
            if kind in rows and self.lines > 1:
                rows[kind].append(tuple(obj["row"]))
            elif kind is None or (kind == "header") != (self.lines == 1):
                out.damaged.append(DamagedLine.of(self.lines, raw))  # a header belongs on line 1 only
            elif kind == "header":
                self.header = out.header = obj
            elif kind == "end":
                self.end = out.end = obj
            # (report and spent rows, what bodies reported, are not followed)
        out.lines = len(lines)
        return out


# ------------------------------------------------------------------ what the rows say

class RunProgress:
    """One run as its journal tells it so far, updated by :meth:`feed` in time
    proportional to what was appended.

    It keeps rows, not figures: the task-info and attempt rows, the events a run's figures
    and its resource table read (:data:`KEPT_EVENTS`: starts, ends, retries, waits for
    units, throttling) and the resource samples; :meth:`record` makes a
    :class:`~swarmlab.store.records.RunRecord` of them, from which every view computes
    its figures with :func:`swarmlab.analysis.figures.run_figures`, the one function a
    saved run's figures come from too (so a run reads the same live and after a reload).
    ``throttled`` holds the spans in which admission was throttled ``(start, end or None)``;
    ``meta`` and ``spec`` the header's (with the labels a comparison journaled).
    """

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self.meta: dict[str, Any] = {}
        self.spec: dict[str, Any] | None = None
        self.task_info: list[tuple] = []
        self.attempts: list[tuple] = []
        self.events: list[tuple] = []  # of the kinds in KEPT_EVENTS only
        self.resources: list[tuple] = []
        self.throttled: list[list] = []
        self.damaged: list[DamagedLine] = []
        self.n_damaged = 0
        self.end_status: str | None = None
        self.lines = 0

    def record(self) -> RunRecord:
        """What was read so far as a record (a snapshot: later looks do not change it)."""
        return RunRecord(dict(self.meta, run_id=self.run_id), list(self.events), list(self.attempts),
                         list(self.resources), RESOURCE_FIELDS, list(self.task_info))

    def feed(self, rows: Appended) -> None:
        """Fold in what a :class:`JournalFollower` returned."""
        if rows.restarted:
            self.__init__(self.run_id)
        self.lines += rows.lines
        if rows.header is not None:
            self.meta = dict(rows.header.get("meta") or {})
            self.spec = rows.header.get("spec")
            labels = self.spec.get("labels") if isinstance(self.spec, dict) else None
            if isinstance(labels, dict):  # what a comparison made the run (a baseline is one while it runs)
                self.meta.update(labels)
            self.run_id = self.run_id or str(rows.header.get("run_id"))
        if rows.end is not None:
            self.end_status = str(rows.end["status"])
        self.n_damaged += len(rows.damaged)
        self.damaged.extend(rows.damaged[: max(0, SHOWN_DAMAGED - len(self.damaged))])
        self.task_info.extend(rows.task)
        self.attempts.extend(rows.attempt)
        t, kind = EVENT.t_s, EVENT.event
        kept = [e for e in rows.event if e[kind] in KEPT_EVENTS]
        self.events.extend(kept)
        for e in kept:
            if e[kind] == "throttled":
                if not self.throttled or self.throttled[-1][1] is not None:
                    self.throttled.append([e[t], None])
            elif e[kind] == "resumed" and self.throttled and self.throttled[-1][1] is None:
                self.throttled[-1][1] = e[t]
        t = RESOURCE.t_s
        self.resources.extend(r for r in rows.resource if isinstance(r[t], (int, float)))


#: The events a follower keeps: what a run's figures read (starts, ends, retries), what its
#: resource table reads (waits for units) and its throttled spans; the others (submitted,
#: ready, assigned: most of a journal) are read and dropped.
KEPT_EVENTS = frozenset((*TERMINAL_STATES, "started", "retried", "held", "throttled", "resumed"))


@dataclass(frozen=True, slots=True)
class RunFolder:
    """One run folder of a store: whether it holds a journal and a saved run (``meta.json``),
    and when each was last written (``os.stat`` times, None when absent)."""

    run_id: str
    path: Path
    journal_mtime: float | None
    saved_mtime: float | None

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL_NAME


def scan_store(path: str | Path) -> list[RunFolder]:
    """The run folders under ``path`` that hold a journal or a saved run, by name (an
    absent folder: none)."""
    out = []
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return out
    for entry in entries:
        if not entry.is_dir():
            continue
        times = []
        for name in (JOURNAL_NAME, "meta.json"):
            try:
                times.append(os.stat(os.path.join(entry.path, name)).st_mtime)
            except OSError:
                times.append(None)
        if times != [None, None]:
            out.append(RunFolder(entry.name, Path(entry.path), *times))
    return out
