"""The journal: a run's records written as they happen, so a killed run can be resumed.

JSON lines in ``<store>/<run_id>/journal.jsonl``: a header (the run's meta and the
declarative spec that rebuilds its tasks: no pickle), then ``event``, ``attempt`` and
``task`` lines in the order they were recorded, and an ``end`` line when the run
finished. Lines are flushed at every terminal event and at least once a second, and
synced to disk at most once a second.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .events import Recorder

__all__ = ["Journal", "read_journal", "JOURNAL_NAME"]

JOURNAL_NAME = "journal.jsonl"
SYNC_EVERY_S = 1.0


class Journal:
    """Appends what ``recorder`` records to ``folder/journal.jsonl``."""

    def __init__(self, folder: str | Path, recorder: Recorder, meta: dict[str, Any], spec: dict[str, Any] | None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / JOURNAL_NAME
        self.recorder = recorder
        self._f = open(self.path, "a", encoding="utf-8")
        self._seen = [0, 0, 0]  # events, attempts, task_info written
        self._synced = time.monotonic()
        self._write({"type": "header", "run_id": recorder.run_id, "meta": meta, "spec": spec})
        self.flush(sync=True)

    def _write(self, obj: dict[str, Any]) -> None:
        self._f.write(json.dumps(obj, default=str) + "\n")

    def flush(self, sync: bool = False) -> None:
        """Write what was recorded since the last call; fsync if a second passed."""
        if self._f.closed:
            return
        rec, seen = self.recorder, self._seen
        for i, (kind, rows) in enumerate((("task", rec.task_info), ("attempt", rec.attempts), ("event", rec.events))):
            for row in rows[seen[i]:]:
                self._write({"type": kind, "row": list(row)})
            seen[i] = len(rows)
        self._f.flush()
        now = time.monotonic()
        if sync or now - self._synced >= SYNC_EVERY_S:
            os.fsync(self._f.fileno())
            self._synced = now

    def close(self, status: str = "complete") -> None:
        if self._f.closed:
            return
        self.flush()
        self._write({"type": "end", "status": status})
        self.flush(sync=True)
        self._f.close()


def read_journal(path: str | Path) -> dict[str, Any]:
    """The header, the rows of each kind, and whether the run ended; a torn last line
    (the process died while writing it) is ignored."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no journal at {path}; only runs started with a store have one")
    out: dict[str, Any] = {"header": None, "task": [], "attempt": [], "event": [], "end": None}
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                break  # torn write at the moment of the kill
            kind = obj.get("type")
            if kind == "header":
                out["header"] = obj
            elif kind == "end":
                out["end"] = obj
            elif kind in ("task", "attempt", "event"):
                out[kind].append(tuple(obj["row"]))
    if out["header"] is None:
        raise ConfigError(f"{path} has no header line; it is not a swarmlab journal")
    return out
