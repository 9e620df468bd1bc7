"""The run store: one folder per run, Parquet frames and ``meta.json``. No pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, JournalError
from .records import RunRecord
from .spill import PARTS, read_parts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunStore", "save_run", "load_run"]

_FRAMES = ("events", "tasks", "resources")


def save_run(record: RunRecord, root: str | Path, *, csv: bool = False) -> Path:
    """Write ``record`` under ``root/<run_id>/``; returns that folder.

    Frames go to Parquet (and also CSV with ``csv=True``); meta to ``meta.json``.
    """
    folder = Path(root) / record.run_id
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FRAMES:
        df = getattr(record, name)
        df.to_parquet(folder / f"{name}.parquet", index=False)
        if csv:
            df.to_csv(folder / f"{name}.csv", index=False)
    (folder / "meta.json").write_text(json.dumps(record.meta, indent=2, default=str))
    return folder


def load_run(folder: str | Path) -> RunRecord:
    """A RunRecord from a folder written by :func:`save_run`, or by a run that spilled
    (``ParallelExecutor(spill=...)``: its frames are built from its parts), dtypes included."""
    import pandas as pd

    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise ConfigError(f"{folder} is not a saved run (no meta.json); give a folder save_run wrote")
    meta = json.loads(meta_path.read_text())
    if not (folder / "tasks.parquet").is_file() and (folder / PARTS).is_dir():
        parts = read_parts(folder)
        return RunRecord(meta, parts["events"], parts["attempts"], pd.read_parquet(folder / "resources.parquet"),
                         task_info=parts["task_info"], reports=parts["reports"])
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in _FRAMES}
    return RunRecord.from_frames(meta, frames)


class RunStore:
    """Saved runs under ``path`` (default ``data/runs``), one folder per run id.

    Examples
    --------
    >>> import tempfile, swarmlab
    >>> store = RunStore(tempfile.mkdtemp())
    >>> rec = swarmlab.simulate([swarmlab.Task(None, estimate_s=1.0)])
    >>> _ = store.save(rec)
    >>> store.load(rec.run_id).tasks.equals(rec.tasks)
    True
    """

    def __init__(self, path: str | Path = "data/runs") -> None:
        self.path = Path(path)

    def save(self, record: RunRecord) -> Path:
        """Write one run; returns its folder."""
        return save_run(record, self.path)

    def _folder(self, run_id: str) -> Path:
        folder = self.path / run_id
        if not (folder / "meta.json").is_file():
            known = ", ".join(sorted(p.name for p in self.path.iterdir() if (p / "meta.json").is_file())[:10]) \
                if self.path.is_dir() else ""
            raise ConfigError(f"no run {run_id!r} in {self.path}; saved runs: {known or 'none'}")
        return folder

    def load(self, run_id: str) -> RunRecord:
        """The saved run, with frames equal to those saved (dtypes included)."""
        return load_run(self._folder(run_id))

    def list(self) -> pd.DataFrame:
        """One row per saved run: id, start, clock, mode, algorithm, workload or suite, seed,
        agents, its role in a comparison (``baseline`` for the sequential run, ``measured``)
        and status."""
        import pandas as pd

        from .journal import JOURNAL_NAME, read_journal

        rows = []
        folders = sorted(p for p in self.path.iterdir() if p.is_dir()) if self.path.is_dir() else []
        for folder in folders:
            if (folder / "meta.json").is_file():
                m = json.loads((folder / "meta.json").read_text())
            elif (folder / JOURNAL_NAME).is_file():  # never finished: resume can finish it
                try:
                    m = dict(read_journal(folder / JOURNAL_NAME)["header"]["meta"], status="interrupted")
                except JournalError:
                    m = {"run_id": folder.name, "status": "unreadable journal"}
            else:
                continue
            rows.append({"run_id": m.get("run_id"), "started_utc": m.get("started_utc"), "clock": m.get("clock"),
                         "mode": m.get("mode"), "algorithm": m.get("algorithm"),
                         "workload": m.get("workload") or m.get("suite"), "seed": m.get("seed"),
                         "n_agents": m.get("n_agents"), "role": m.get("role") or "",
                         "status": m.get("status", "complete")})
        cols = ["run_id", "started_utc", "clock", "mode", "algorithm", "workload", "seed", "n_agents", "role",
                "status"]
        return pd.DataFrame(rows, columns=cols).sort_values("started_utc", ignore_index=True)

    def export(self, run_id: str, fmt: str, dest: str | Path) -> Path:
        """Copy a run's frames to ``dest/<run_id>/`` as ``csv`` or ``parquet``, with its meta."""
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"export format must be 'csv' or 'parquet'; got {fmt!r}")
        rec = self.load(run_id)
        out = Path(dest) / run_id
        out.mkdir(parents=True, exist_ok=True)
        for name in _FRAMES:
            df = getattr(rec, name)
            if fmt == "csv":
                df.to_csv(out / f"{name}.csv", index=False)
            else:
                df.to_parquet(out / f"{name}.parquet", index=False)
        shutil.copy(self._folder(run_id) / "meta.json", out / "meta.json")
        return out
