"""Spilling a long run's rows to the run store as it goes, so that its memory stays flat.

``ParallelExecutor(spill=folder)``: each time :data:`SPILL_ROWS` attempt rows have
gathered, the recorder's events, attempts, task and report rows are written to
``<folder>/<run_id>/parts/`` as numbered Parquet files and dropped from memory (the
dispatcher forgets ended tasks too: :class:`swarmlab.core.ended.EndedTasks`). At stop the
rest follows, with ``resources.parquet`` and ``meta.json``, so that
``RunStore(folder).load(run_id)`` is the run, as for any saved run: :func:`read_parts`
builds its frames from the parts.

A part is written to a temporary name and renamed, so a kill leaves whole parts only.
When a part cannot be written (a full disk, say), nothing is lost: the rows stay in memory,
spilling stops, a ``spill_failed`` event says why, and :meth:`Spill.close` raises at
stop if the run folder still cannot be completed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..events import ATTEMPT_FIELDS, EVENT_FIELDS, REPORT_FIELDS, TASK_INFO_FIELDS, Recorder

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Spill", "SPILL_ROWS", "PARTS", "read_parts"]

log = logging.getLogger("swarmlab")

#: Attempt rows gathered before they (and the events and task rows with them) are
#: written: about 13 MB of rows at a time, a part of some tens of milliseconds.
SPILL_ROWS = 16_384
#: The folder of a run's parts, inside its run folder.
PARTS = "parts"
_KINDS = (("events", EVENT_FIELDS), ("attempts", ATTEMPT_FIELDS), ("task_info", TASK_INFO_FIELDS),
          ("reports", REPORT_FIELDS))


class Spill:
    """Writes what ``recorder`` holds to ``folder/parts/`` and drops it from memory.

    ``now`` is the run's clock (for the ``spill_failed`` event); ``before`` is called
    before each write (the journal's flush: a row must be journaled before it leaves
    memory).
    """

    def __init__(self, folder: str | Path, recorder: Recorder, now: Callable[[], float],
                 before: Callable[[], None] | None = None) -> None:
        self.folder = Path(folder)
        (self.folder / PARTS).mkdir(parents=True, exist_ok=True)
        self.recorder = recorder
        self._now = now
        self._before = before
        self.parts = 0  # parts written
        self.failed: Exception | None = None  # why spilling stopped, if it did

    def due(self) -> bool:
        return self.failed is None and len(self.recorder.attempts) >= SPILL_ROWS

    def write(self) -> bool:
        """Write the rows in memory as the next part and drop them; False (rows kept,
        spilling stopped, ``spill_failed`` recorded) when the part cannot be written."""
        if self._before is not None:
            self._before()
        rec = self.recorder
        lists = (rec.events, rec.attempts, rec.task_info, rec.reports)
        if not any(lists):
            return True
        import pyarrow.parquet as pq

        from .records import arrow_table

        n = self.parts + 1
        try:
            for (kind, fields), rows in zip(_KINDS, lists):
                path = self.folder / PARTS / f"{kind}-{n:06d}.parquet"
                tmp = path.with_suffix(".tmp")
                pq.write_table(arrow_table(rows, fields, rec.dropped["events"]), tmp)
                os.replace(tmp, path)
        except Exception as e:  # noqa: BLE001 - contained: the run goes on, its rows in memory
            for kind, _ in _KINDS:  # a part is whole or absent
                with contextlib.suppress(OSError):
                    (self.folder / PARTS / f"{kind}-{n:06d}.parquet").unlink(missing_ok=True)
            if self.failed is None:
                self.failed = e
                log.error("swarmlab: spilling to %s failed (%s); rows stay in memory from now on", self.folder, e)
                rec.emit(self._now(), "spill_failed", None, None, f"{type(e).__name__}: {e}; rows stay in memory")
            return False
        self.parts = n
        rec.drop()
        return True

    def frames(self) -> dict[str, pd.DataFrame]:
        """The run's events, attempts, task and report rows so far: the parts, then memory (the
        record built from them gives each column its dtype)."""
        import pandas as pd

        from .records import arrow_table

        out = read_parts(self.folder)
        rec = self.recorder
        for (kind, fields), rows in zip(_KINDS, (rec.events, rec.attempts, rec.task_info, rec.reports)):
            if rows:
                held = arrow_table(rows, fields, rec.dropped["events"]).to_pandas()
                out[kind] = pd.concat([out[kind], held], ignore_index=True)
        return out

    def close(self, meta: dict[str, Any]) -> None:
        """The last part, the resource samples and the meta: the run folder is complete.

        Raises OSError when the last rows cannot be written."""
        from .records import RunRecord

        if not self.write():
            raise OSError(f"swarmlab could not complete the spilled run in {self.folder}: {self.failed}; "
                          "record() still holds the run: save it elsewhere with save_run")
        rec = self.recorder
        resources = RunRecord(meta, [], [], list(rec.resources), rec.resource_fields).resources
        resources.to_parquet(self.folder / "resources.parquet", index=False)
        (self.folder / "meta.json").write_text(json.dumps(meta, indent=2, default=str))


def read_parts(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The events, attempts, task and report rows of a spilled run folder, parts in order
    (empty frames with the right columns when it has none: a folder spilled before
    reports existed has no report parts), as rows for a :class:`RunRecord`,
    which gives each column its dtype."""
    import pandas as pd

    parts = Path(folder) / PARTS
    out = {}
    for kind, fields in _KINDS:
        frames = [pd.read_parquet(f) for f in sorted(parts.glob(f"{kind}-*.parquet"))]
        out[kind] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(fields))
    return out
