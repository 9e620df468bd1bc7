"""Saving and loading runs: one folder per run with Parquet frames and ``meta.json``."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ConfigError
from .records import RunRecord

__all__ = ["save_run", "load_run"]

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
    """A RunRecord from a folder written by :func:`save_run`."""
    import pandas as pd

    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise ConfigError(f"{folder} is not a saved run (no meta.json); give a folder save_run wrote")
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in _FRAMES}
    return RunRecord.from_frames(json.loads(meta_path.read_text()), frames)
