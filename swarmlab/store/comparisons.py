"""A comparison in the run store: its plan, what it has done, and whether it still runs.

A comparison given a store (:func:`swarmlab.compare`; the CLI always gives one) keeps a
folder of its own beside its runs, ``<store>/cmp-<stamp>-<hex>/``:

- ``plan.json``: what it is to do, written before its first run (the workload's recipe
  and seed, the set-ups and modes, the run order with roles, the repeats policy, the
  output folder) and whether it can be resumed (with the reason when not);
- ``progress.jsonl``: one line when each run starts and one when it is done (a kept run
  once its files are saved), one when the comparison is resumed, one when it completes;
- ``lock``: held (:mod:`swarmlab.store.lock`) while a process runs or resumes it, so a
  comparison still going (``running``) is told from one killed (``interrupted``).

The prefix ``cmp-`` tells a comparison id from a run id at a glance; ``runs list``
(:meth:`RunStore.list <swarmlab.store.runs.RunStore.list>`) skips these folders, which
hold no run, and :meth:`RunStore.comparisons <swarmlab.store.runs.RunStore.comparisons>`
lists them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .lock import journal_held, try_lock

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMPARISON_PREFIX", "PLAN_NAME", "PROGRESS_NAME", "LOCK_NAME", "ComparisonFolder", "comparison_stamp",
           "is_comparison_id", "new_comparison_id", "comparisons_frame", "COMPARISON_COLUMNS", "done_keys"]

#: What every comparison id starts with, and no run id does (run ids are ``<algorithm>-...``
#: or a user's ``run_id``): ``swarmlab resume`` tells the two apart by it.
COMPARISON_PREFIX = "cmp-"
PLAN_NAME = "plan.json"
PROGRESS_NAME = "progress.jsonl"
LOCK_NAME = "lock"
#: What a comparison id may hold after its prefix: a folder's plain name, never a path.
_PLAIN = re.compile(r"cmp-[A-Za-z0-9_.-]+")
#: The columns of :func:`comparisons_frame`.
COMPARISON_COLUMNS = ["comparison_id", "status", "runs_planned", "runs_done", "started_utc", "workload", "resumable",
                      "outputs"]


def is_comparison_id(name: object) -> bool:
    """Whether ``name`` is a comparison id (``cmp-...``), not a run id."""
    return isinstance(name, str) and name.startswith(COMPARISON_PREFIX)


def new_comparison_id() -> str:
    """A fresh comparison id: ``cmp-<UTC stamp>-<6 hex>`` (the stamp sorts them by start,
    the hex keeps two started in the same second apart)."""
    return f"{COMPARISON_PREFIX}{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def comparison_stamp(comparison_id: str) -> str | None:
    """The UTC stamp a comparison id made by :func:`new_comparison_id` starts with (its
    output files are named by it, so a resume writes the same files again, not a second
    set), or None for an id given by hand."""
    m = re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]+", comparison_id[len(COMPARISON_PREFIX):])
    return m.group(0).split("-")[0] if m else None


def _utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ComparisonFolder:
    """The folder of one comparison in a store (see the module docstring)."""

    def __init__(self, store_path: str | Path, comparison_id: str) -> None:
        if not is_comparison_id(comparison_id) or not _PLAIN.fullmatch(comparison_id):
            raise ConfigError(f"a comparison id is {COMPARISON_PREFIX!r} then letters, digits, '-', '_' or '.' (a "
                              f"plain name, never a path); got {comparison_id!r}; give an id as `swarmlab runs list` "
                              "shows it under comparisons")
        self.id = comparison_id
        self.path = Path(store_path) / self.id

    @property
    def resume_command(self) -> str:
        """The command that finishes this comparison from a terminal, once it is interrupted."""
        return f"swarmlab resume {self.id} --store {self.path.parent}"

    @property
    def exists(self) -> bool:
        return (self.path / PLAN_NAME).is_file()

    def write_plan(self, plan: dict[str, Any]) -> None:
        """Write (or rewrite: ``repeats="auto"`` adds rounds) the plan, atomically: a
        kill leaves the old plan or the new one, never half of one."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{PLAN_NAME}.tmp"
        tmp.write_text(json.dumps({"comparison_id": self.id, **plan}, indent=1, default=str))
        os.replace(tmp, self.path / PLAN_NAME)

    def plan(self) -> dict[str, Any]:
        """The plan; a ConfigError naming the comparison when there is none or it cannot be read."""
        try:
            plan = json.loads((self.path / PLAN_NAME).read_text())
        except FileNotFoundError:
            known = ", ".join(c.name for c in _folders(self.path.parent)[:10])
            raise ConfigError(f"no comparison {self.id!r} in {self.path.parent}; comparisons there: "
                              f"{known or 'none'}") from None
        except (OSError, ValueError) as e:
            raise ConfigError(f"comparison {self.id!r} is unreadable: its {PLAN_NAME} cannot be read ({e})") from None
        if not isinstance(plan, dict):
            raise ConfigError(f"comparison {self.id!r} is unreadable: its {PLAN_NAME} holds no object")
        return plan

    def append(self, kind: str, **fields: Any) -> None:
        """One progress line (``started``, ``done``, ``discarded``, ``resumed``, ``complete``),
        flushed and synced: it is what a resume trusts."""
        with open(self.path / PROGRESS_NAME, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": kind, "utc": _utc(), **fields}, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def progress(self) -> list[dict[str, Any]]:
        """The progress lines, in order; a line a kill tore is skipped (it was the last)."""
        try:
            text = (self.path / PROGRESS_NAME).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("event"), str):
                out.append(row)
        return out

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the comparison's lock while the block runs; a ConfigError when another
        process holds it (the comparison still runs, or is being resumed)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_NAME, "a") as f:
            if not try_lock(f):
                raise ConfigError(f"comparison {self.id!r} is held by another process (it is still running, or being "
                                  "resumed); wait for it to end (`swarmlab runs list` shows it as running meanwhile)")
            yield

    @property
    def held(self) -> bool:
        return journal_held(self.path / LOCK_NAME)

    def status(self, progress: list[dict[str, Any]] | None = None) -> str:
        """``complete`` (its last run is made and its outputs written), ``running`` (a live
        process holds it) or ``interrupted`` (killed: ``swarmlab resume ID`` finishes it)."""
        progress = self.progress() if progress is None else progress
        if any(p["event"] == "complete" for p in progress):
            return "complete"
        return "running" if self.held else "interrupted"


def done_keys(plan: dict[str, Any], progress: list[dict[str, Any]]) -> set[str]:
    """The planned runs (by key) that are done."""
    planned = {r["key"] for r in plan.get("runs", ())}
    return {p["key"] for p in progress if p["event"] == "done" and p.get("key") in planned}


def _folders(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if is_comparison_id(p.name) and (p / PLAN_NAME).is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def comparisons_frame(store_path: str | Path) -> pd.DataFrame:
    """One row per comparison in the store: its id, status (running, interrupted,
    complete), the runs it planned and those done (warm-ups, baselines and measured runs;
    ``repeats="auto"`` plans its rounds as it goes), when it started, its workload,
    whether it can be resumed (``"yes"``, or why not) and, once complete, the files it
    wrote (``outputs``, comma-separated; empty without an output folder)."""
    import pandas as pd

    rows = []
    for folder in _folders(Path(store_path)):
        c = ComparisonFolder(store_path, folder.name)
        try:
            plan = c.plan()
        except ConfigError as e:
            rows.append({"comparison_id": c.id, "status": f"unreadable: {e}"})
            continue
        progress = c.progress()
        wl = plan.get("workload") or {}
        files = next((p.get("files") for p in progress if p["event"] == "complete"), None) or {}
        rows.append({"comparison_id": c.id, "status": c.status(progress), "runs_planned": len(plan.get("runs", ())),
                     "runs_done": len(done_keys(plan, progress)), "started_utc": plan.get("started_utc"),
                     "workload": wl.get("name"), "resumable": plan.get("not_resumable") or "yes",
                     "outputs": ", ".join(map(str, files.values())) if isinstance(files, dict) else ""})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
