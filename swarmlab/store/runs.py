"""The run store: one folder per run, Parquet frames and ``meta.json``. No pickle.

Every door checks the run id it is given (:func:`check_run_id`: a plain name, never a
path), and one bad saved run never breaks the views of the others: ``list()`` shows it
as ``unreadable: <why>``, ``load()`` of it is a ConfigError saying why. A run whose
journal has its end line but whose files were never saved (a kill between the two) is
``unsaved``: ``load()`` reads it from the journal, :func:`swarmlab.resume` saves it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, JournalError
from ..events import RESOURCE_FIELDS
from .comparisons import comparisons_frame
from .journal import JOURNAL_NAME, read_journal
from .lock import journal_held
from .records import RunRecord
from .spill import PARTS, read_parts

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RunStore", "save_run", "load_run", "check_run_id", "journal_held", "journal_record", "run_status"]

_FRAMES = ("events", "tasks", "resources")
#: What may fail reading a saved run's files: a damaged or truncated file, of any kind
#: (pyarrow's ArrowInvalid is a ValueError, a missing or unreadable file an OSError).
_READ_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError)


def check_run_id(run_id: Any, what: str = "run id") -> str:
    """``run_id`` when it is a plain name (a folder's name in the store, nothing else);
    a ConfigError otherwise: a path (``../x``, ``/abs``, ``a/b``), ``.``, ``..``, empty,
    or not text. Every door of the store checks it, so no id, given or read from a
    journal, reads or writes outside the store."""
    ok = (isinstance(run_id, str) and run_id not in ("", ".", "..") and "\0" not in run_id
          and not any(sep and sep in run_id for sep in ("/", "\\", os.sep, os.altsep)))
    if not ok:
        raise ConfigError(f"{what} {run_id!r} is not a plain name (no path, no '/' or '\\', not '.' or '..'); "
                          "give a run id as `swarmlab runs list` shows it")
    return run_id


def _read_meta(folder: Path) -> dict[str, Any]:
    """A saved run's meta; a ConfigError naming the run and why when it is not a JSON object."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"run {folder.name!r} is unreadable: meta.json {_why(e)}") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"run {folder.name!r} is unreadable: meta.json holds a {type(meta).__name__}, not an object")
    return meta


def _list_row(m: dict[str, Any]) -> dict[str, Any]:
    """One row of :meth:`RunStore.list` from a run's meta."""
    return {"run_id": m.get("run_id"), "started_utc": m.get("started_utc"), "clock": m.get("clock"),
            "mode": m.get("mode"), "algorithm": m.get("algorithm"), "workload": m.get("workload") or m.get("suite"),
            "seed": m.get("seed"), "n_agents": m.get("n_agents"), "role": m.get("role") or "",
            "status": m.get("status", "complete")}


#: The bytes a Parquet file ends with (its footer's magic): a file cut short lacks them.
_PARQUET_END = b"PAR1"


def _check_frames(folder: Path) -> None:
    """A ConfigError when a saved frame file is cut short (no Parquet footer): cheap
    enough for ``list()``, which reads no frame (a file damaged inside still fails at
    ``load()``, saying why)."""
    for name in _FRAMES:
        path = folder / f"{name}.parquet"
        if not path.is_file():
            continue
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(size - len(_PARQUET_END), 0))
            if size < 2 * len(_PARQUET_END) or f.read() != _PARQUET_END:
                raise ConfigError(f"run {folder.name!r} is unreadable: {path.name} is cut short (no Parquet footer)")


def _why(e: BaseException) -> str:
    first = str(e).splitlines()[0] if str(e) else ""
    return f"cannot be read ({type(e).__name__}{': ' + first if first else ''})"


def save_run(record: RunRecord, root: str | Path, *, csv: bool = False) -> Path:
    """Write ``record`` under ``root/<run_id>/``; returns that folder.

    Frames go to Parquet (and also CSV with ``csv=True``); meta to ``meta.json``.
    """
    folder = Path(root) / check_run_id(record.run_id)
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
    meta = _read_meta(folder)
    try:
        if not (folder / "tasks.parquet").is_file() and (folder / PARTS).is_dir():
            parts = read_parts(folder)
            return RunRecord(meta, parts["events"], parts["attempts"], pd.read_parquet(folder / "resources.parquet"),
                             task_info=parts["task_info"], reports=parts["reports"])
        frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in _FRAMES}
        return RunRecord.from_frames(meta, frames)
    except ConfigError:
        raise
    except _READ_ERRORS as e:
        raise ConfigError(f"run {folder.name!r} is unreadable: its frames {_why(e)}; the saved files are damaged"
                          ) from None


def journal_record(j: dict[str, Any]) -> RunRecord:
    """The record a journal read by :func:`~swarmlab.store.journal.read_journal` holds
    (its header's meta, status from its end line), for a run that ended but was never
    saved."""
    meta = dict(j["header"]["meta"])
    if j["end"] is not None:
        meta["status"] = j["end"]["status"]
    return RunRecord(meta, list(j["event"]), list(j["attempt"]), list(j["resource"]), RESOURCE_FIELDS,
                     list(j["task"]), reports=list(j["report"]))


def run_status(folder: str | Path) -> str:
    """What a run folder holds, in one word: ``complete`` (or the saved meta's status),
    ``running`` (its journal is held by a live process), ``unsaved`` (its journal ended,
    its files were never saved: resume saves them), ``interrupted`` (killed: resume
    finishes it), ``unreadable journal``, or ``""`` (no run there)."""
    folder = Path(folder)
    journal = folder / JOURNAL_NAME
    if journal.is_file() and journal_held(journal):
        return "running"
    if (folder / "meta.json").is_file():
        try:
            return str(_read_meta(folder).get("status", "complete"))
        except ConfigError:
            return "unreadable"
    if not journal.is_file():
        return ""
    try:
        j = read_journal(journal)
    except JournalError:
        j = None
    return _journal_status(journal, j)


def _journal_status(journal: Path, j: dict[str, Any] | None) -> str:
    """The status of a run never saved, from its journal (``j``, as read; None when unreadable)."""
    if journal_held(journal):
        return "running"
    if j is None:
        return "unreadable journal"
    return "unsaved" if j["end"] is not None else "interrupted"


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
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"RunStore takes a folder path (str or Path); got {path!r}")
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"the run store {self.path} is a file; give a folder (it is created at the first save)")

    def save(self, record: RunRecord) -> Path:
        """Write one run; returns its folder."""
        return save_run(record, self.path)

    def _folder(self, run_id: str, unsaved: bool = False) -> Path:
        folder = self.path / check_run_id(run_id)
        if not (folder / "meta.json").is_file() and not (unsaved and run_status(folder) == "unsaved"):
            known = ", ".join(sorted(p.name for p in self.path.iterdir() if (p / "meta.json").is_file())[:10]) \
                if self.path.is_dir() else ""
            raise ConfigError(f"no run {run_id!r} in {self.path}; saved runs: {known or 'none'}")
        return folder

    def load(self, run_id: str) -> RunRecord:
        """The saved run, with frames equal to those saved (dtypes included); a run that
        ended but was never saved (``unsaved``), from its journal."""
        folder = self._folder(run_id, unsaved=True)
        if not (folder / "meta.json").is_file():
            return journal_record(read_journal(folder / JOURNAL_NAME))
        return load_run(folder)

    def list(self) -> pd.DataFrame:
        """One row per saved run: id, start, clock, mode, algorithm, workload or suite, seed,
        agents, its role in a comparison (``baseline`` for the sequential run, ``measured``)
        and status (:func:`run_status`; a saved run whose files cannot be read is listed
        as ``unreadable: <why>``, the others as usual)."""
        import pandas as pd

        rows = []
        folders = sorted(p for p in self.path.iterdir() if p.is_dir()) if self.path.is_dir() else []
        for folder in folders:
            journal = folder / JOURNAL_NAME
            if (folder / "meta.json").is_file():
                try:
                    m = _read_meta(folder)
                    _check_frames(folder)
                except ConfigError as e:
                    m = {"run_id": folder.name, "status": "unreadable: " + str(e).split(" is unreadable: ", 1)[-1]}
                if journal.is_file() and journal_held(journal):
                    m = dict(m, status="running")
                rows.append(_list_row(m))
                continue
            if not journal.is_file():
                continue
            try:  # never saved: resume finishes (or saves) it
                j = read_journal(journal)
            except JournalError:
                m = {"run_id": folder.name, "status": _journal_status(journal, None)}
            else:  # with the labels a comparison journaled with its spec (role, workload, ...)
                spec = j["header"].get("spec")
                labels = spec.get("labels") if isinstance(spec, dict) and isinstance(spec.get("labels"), dict) else {}
                m = dict(j["header"]["meta"], **labels, status=_journal_status(journal, j))
            rows.append(_list_row(m))
        cols = ["run_id", "started_utc", "clock", "mode", "algorithm", "workload", "seed", "n_agents", "role",
                "status"]
        return pd.DataFrame(rows, columns=cols).sort_values("started_utc", ignore_index=True)

    def comparisons(self) -> pd.DataFrame:
        """One row per comparison made with this store (:mod:`swarmlab.store.comparisons`):
        ``comparison_id`` (``cmp-...``), ``status`` (``running``, ``interrupted``: finish it
        with ``swarmlab.resume(comparison_id, store)``, or ``complete``), ``runs_planned``,
        ``runs_done``, ``started_utc``, its ``workload`` and whether it is ``resumable``
        (``"yes"``, or why not)."""
        return comparisons_frame(self.path)

    def export(self, run_id: str, fmt: str, dest: str | Path) -> Path:
        """Copy a run's frames to ``dest/<run_id>/`` as ``csv`` or ``parquet``, with its meta."""
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"export format must be 'csv' or 'parquet'; got {fmt!r}")
        rec = self.load(run_id)
        frames = {}
        try:  # every frame read before anything is written
            frames = {name: getattr(rec, name) for name in _FRAMES}
        except _READ_ERRORS as e:
            raise ConfigError(f"run {run_id!r} is unreadable: its frames {_why(e)}; the saved files are damaged"
                              ) from None
        out = Path(dest) / run_id
        out.mkdir(parents=True, exist_ok=True)
        for name, df in frames.items():
            if fmt == "csv":
                df.to_csv(out / f"{name}.csv", index=False)
            else:
                df.to_parquet(out / f"{name}.parquet", index=False)
        (out / "meta.json").write_text(json.dumps(rec.meta, indent=2, default=str))
        return out
