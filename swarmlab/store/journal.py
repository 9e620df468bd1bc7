"""The journal: a run's records written as they happen, so a killed run can be resumed.

JSON lines in ``<store>/<run_id>/journal.jsonl``: a header (the run's meta and the
declarative spec that rebuilds its tasks: no pickle), then ``event``, ``attempt``,
``task``, ``resource`` and ``report`` (what a body reported, with its attempt's outcome)
lines in the order they were recorded, ``spent`` lines (what bodies reported as they
reported it: :meth:`Journal.spent`), and an ``end`` line when the run finished (a live
reader, such as the dashboard, follows a run from them alone). Lines are flushed at every
terminal event and at least once a second, and synced to disk at most once a second.

``spent`` lines have the fields of a ``report`` row: what attempt ``attempt`` of a task
reported of ``name`` since the last flush (reports coalesced per task, attempt and name).
They say what an attempt a kill cut short had spent, which its ``report`` rows, written
with its outcome, never will; for an attempt that ended they repeat its ``report`` rows
and are not read. Journals written before they existed have none and read the same.

Every line checks itself: it ends with a ``"crc"`` field, the CRC-32 of the line as it
would be without that field (``{...}`` up to ``, "crc": N}``), so a line stays plain JSON
for any reader. :func:`read_journal` skips a line that fails its checksum, is not UTF-8
or JSON, or whose fields have the wrong types, keeps every intact line before and after
it, and says which lines it skipped. Lines written before checksums existed (no
``"crc"``) are read when they parse and type-check, in a journal whose header has
none; in one whose header has a checksum, a line without one is damaged.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import zlib
from collections import deque
from pathlib import Path
from typing import Any

from ..errors import ConfigError, JournalError
from ..events import (ANY, ATTEMPT_SCHEMA, EVENT, EVENT_SCHEMA, REPORT_SCHEMA, RESOURCE_SCHEMA, TASK_INFO,
                      TASK_INFO_SCHEMA, Recorder, report_row)
from .lock import try_lock

__all__ = ["Journal", "read_journal", "encode_line", "decode_line", "legacy_task_row", "JOURNAL_NAME", "ROW_SCHEMAS", "CRC_MARK"]

JOURNAL_NAME = "journal.jsonl"
SYNC_EVERY_S = 1.0
#: The kind of row each row line holds (its ``"type"``), by the schema of
#: :mod:`swarmlab.events` that defines it: its fields, and what each may hold.
ROW_SCHEMAS: dict[str, dict[str, Any]] = {
    "event": EVENT_SCHEMA, "attempt": ATTEMPT_SCHEMA, "task": TASK_INFO_SCHEMA, "resource": RESOURCE_SCHEMA,
    "report": REPORT_SCHEMA, "spent": REPORT_SCHEMA,
}
CRC_MARK = b', "crc": '


def encode_line(obj: dict[str, Any]) -> str:
    """One journal line (with its newline) for a non-empty dict: its JSON with the
    checksum field last."""
    body = json.dumps(obj, default=str)
    return f'{body[:-1]}, "crc": {zlib.crc32(body.encode())}}}\n'


class Journal:
    """Appends what ``recorder`` records to ``folder/journal.jsonl``, holding the file's
    lock (:mod:`swarmlab.store.lock`) until closed or its process ends.

    Raises
    ------
    JournalError
        Another live process holds that journal (its run is going, or being resumed).
    """

    def __init__(self, folder: str | Path, recorder: Recorder, meta: dict[str, Any], spec: dict[str, Any] | None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / JOURNAL_NAME
        self.recorder = recorder
        self._f = open(self.path, "a", encoding="utf-8")
        if not try_lock(self._f):
            self._f.close()
            raise JournalError(f"the journal {self.path} is held by another process (its run is going or being "
                               "resumed); wait for it to end, or give another run id")
        self._seen = [0, 0, 0, 0, 0]  # task_info, attempts, events, resources, reports written (dropped included)
        self._synced = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        # (task id, attempt, {name: value}) as bodies report them, from any thread: a
        # deque's append and popleft are atomic, so reporters never wait for a flush
        self._spent: deque = deque()
        self._write({"type": "header", "run_id": recorder.run_id, "meta": meta, "spec": spec})
        self.flush(sync=True)

    def _write(self, obj: dict[str, Any]) -> None:
        self._f.write(encode_line(obj))

    def flush(self, sync: bool = False) -> None:
        """Write what was recorded since the last call; fsync if a second passed."""
        if self._f.closed:
            return
        rec, seen, dropped = self.recorder, self._seen, self.recorder.dropped
        ev_base, seq_at = dropped["events"], EVENT.seq
        for i, (kind, rows, base) in enumerate((
                ("task", rec.task_info, dropped["task_info"]), ("attempt", rec.attempts, dropped["attempts"]),
                ("event", rec.events, ev_base), ("resource", rec.resources, 0),
                ("report", rec.reports, dropped["reports"]))):
            for row in rows[seen[i] - base:]:
                line = list(row)
                if kind == "event" and ev_base:  # seq in the run, counting the events dropped
                    line[seq_at] += ev_base
                self._write({"type": kind, "row": line})
            seen[i] = base + len(rows)
        if self._spent:
            self._write_spent()
        self._f.flush()
        now = time.monotonic()
        if sync or now - self._synced >= SYNC_EVERY_S:
            os.fsync(self._f.fileno())
            self._synced = now

    def spent(self, task_id: str, attempt: int, values: dict[str, float]) -> None:
        """What attempt ``attempt`` of ``task_id`` reported just now (``swarmlab.report``,
        a command's usage line): written as ``spent`` lines at the next flush. The sink of
        the attempts of a journaled run (:class:`swarmlab.scope.Attempt`), called from
        the body's thread."""
        self._spent.append((task_id, attempt, values))

    def _write_spent(self) -> None:
        """The increments taken since the last flush, one line per task, attempt and name."""
        spent, summed = self._spent, {}
        while spent:
            try:
                task_id, attempt, values = spent.popleft()
            except IndexError:  # (cannot be: this thread alone takes)
                break
            for name, value in values.items():
                key = (task_id, attempt, name)
                summed[key] = summed.get(key, 0.0) + value
        for (task_id, attempt, name), value in summed.items():
            self._write({"type": "spent", "row": list(report_row(task_id=task_id, attempt=attempt, name=name,
                                                                  value=value))})

    def keep_flushing(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush at least every ``SYNC_EVERY_S`` on ``loop``, whatever happens, until closed."""
        self.flush()
        self._timer = loop.call_later(SYNC_EVERY_S, self.keep_flushing, loop)

    def close(self, status: str = "complete") -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._f.closed:
            return
        self.flush()
        self._write({"type": "end", "status": status})
        self.flush(sync=True)
        self._f.close()


# ------------------------------------------------------------------ reading

# What each field of a row may hold, by kind, in field order.
_ROW_TYPES: dict[str, tuple] = {kind: tuple(schema.values()) for kind, schema in ROW_SCHEMAS.items()}


def legacy_task_row(row: Any) -> None:
    """A task row journaled before ``estimate_source`` existed (its last field, one
    short) gains it, in place: "given" when it has an estimate, else "default"."""
    if isinstance(row, list) and len(row) == len(TASK_INFO_SCHEMA) - 1:
        row.append("given" if row[TASK_INFO.estimate_s] is not None else "default")


def _fits(value: Any, types: Any) -> bool:
    if types is ANY:
        return True
    return isinstance(value, types) and not isinstance(value, bool)


def decode_line(raw: bytes, need_crc: bool = True) -> dict[str, Any] | None:
    """The object on one journal line (without its newline), or None when the line is
    damaged: it fails its checksum or has none (unless ``need_crc`` is False: a journal
    written before checksums existed, whose header has none), has anything after the
    checksum's closing brace (a ``\r``, a space: a Journal never writes them), is not
    UTF-8 or JSON, or its fields have the wrong types."""
    at = raw.rfind(CRC_MARK)
    if at != -1:
        if not raw.endswith(b"}"):
            return None
        body = raw[:at] + b"}"
        try:
            if zlib.crc32(body) != int(raw[at + len(CRC_MARK):-1]):
                return None
        except ValueError:
            return None
        raw = body
    elif need_crc:
        return None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind in _ROW_TYPES:
        row, types = obj.get("row"), _ROW_TYPES[kind]
        if kind == "task":
            legacy_task_row(row)
        if not (isinstance(row, list) and len(row) == len(types) and all(map(_fits, row, types))):
            return None
    elif kind == "header":
        if not (isinstance(obj.get("run_id"), str) and isinstance(obj.get("meta"), dict)
                and isinstance(obj.get("spec"), (dict, type(None)))):
            return None
    elif kind == "end":
        if not isinstance(obj.get("status"), str):
            return None
    else:
        return None
    return obj


def read_journal(path: str | Path) -> dict[str, Any]:
    """The header, the rows of each kind (``spent``: empty in a journal written before
    they existed), whether the run ended, and ``damaged``: the
    1-based numbers of the lines skipped (a torn last line, from a kill while it was
    written, is one of them).

    Raises
    ------
    ConfigError
        No file at ``path``.
    JournalError
        The file cannot be a journal: empty, or its first line is not an intact header.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no journal at {path}; only runs started with a store have one")
    data = path.read_bytes()
    out: dict[str, Any] = {"header": None, "task": [], "attempt": [], "event": [], "resource": [], "report": [],
                           "spent": [], "end": None, "damaged": []}
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise JournalError(f"the journal {path} is empty: the run was killed before it wrote anything; "
                           "there is nothing to resume, run it again")
    need_crc = CRC_MARK in lines[0]  # a journal written before checksums existed has none anywhere
    for n, raw in enumerate(lines, 1):
        obj = decode_line(raw, need_crc)
        kind = obj and obj["type"]
        if n == 1 and kind != "header":
            what = "is damaged" if obj is None and raw.startswith(b'{"type": "header"') else "is not a journal header"
            raise JournalError(f"the journal {path} cannot be read: its first line {what}; it is not a "
                               "swarmlab journal that can be resumed")
        if obj is None or (kind == "header" and n > 1):
            out["damaged"].append(n)
        elif kind == "header":
            out["header"] = obj
        elif kind == "end":
            out["end"] = obj
        else:
            out[kind].append(tuple(obj["row"]))
    return out
