"""The dashboard's comparison: the one running now, else the newest one written, in words.

``swarmlab compare`` writes ``compare-STAMP.csv`` (the summary), its ``-runs.csv``,
``-verdicts.csv`` and PNG when it ends; while it runs, its runs are journaled in the store
with the labels it gave them (workload, set-up, role, order, repeat). So the comparison
running now is told by its runs (:func:`comparison_running`), a finished one by its files
(:func:`latest_comparison`), and :func:`comparison_name` names either by what the store
holds today: small functions, to be swapped for comparison ids when the store has them.
Verdicts are the sentences the command prints (:func:`swarmlab.analysis.stats.describe_verdicts`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["latest_comparison", "comparison_running", "comparison_name", "comparison_html", "verdict_lines"]

#: The comparison's metrics shown, in this order, where the summary has them.
_COMPARED = ("throughput_tps", "makespan_s", "speedup", "efficiency", "load_balance_score", "p95_wait_s")
#: After them, what the bodies reported, where they did (an agent swarm's 429s, tokens and
#: cost first, then any other reported sum): every metric not built in.
_REPORTED_FIRST = ("rate_limited", "tokens", "cost_usd", "limit_wait_s")
#: Reported metrics the sentences leave out, as the command does: already in rate_limited.
_REPORTED_HIDDEN = ("n_rate_limited",)
#: Rows of a summary of another layout shown as it is.
_MAX_ROWS = 40
#: The roles of a comparison's runs that make its figures (warm-ups are not journaled).
_ROLES = ("baseline", "measured")
_STAMP = re.compile(r"compare-(\d{8}T\d{6}Z?)")


def latest_comparison(folder: str | Path) -> dict[str, Path] | None:
    """The files of the newest ``compare-STAMP.csv`` under ``folder``: ``summary``, and
    ``runs``, ``verdicts``, ``png`` where they exist (None: no comparison there)."""
    folder = Path(folder)
    try:
        names = sorted(p.name for p in folder.glob("compare-*.csv"))
    except OSError:
        return None
    summaries = [n for n in names if not n.endswith(("-runs.csv", "-verdicts.csv"))]
    if not summaries:
        return None
    stem = summaries[-1][: -len(".csv")]
    found = {"summary": folder / f"{stem}.csv"}
    for key, name in (("runs", f"{stem}-runs.csv"), ("verdicts", f"{stem}-verdicts.csv"), ("png", f"{stem}.png")):
        if (folder / name).is_file():
            found[key] = folder / name
    return found


def _started(meta: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(meta.get("started_utc")))
    except ValueError:
        return None


def comparison_running(runs: Iterable[tuple[Mapping[str, Any], bool]],
                       written: dict[str, Path] | None) -> dict[str, Any] | None:
    """The comparison running now, from the store's runs ``(meta, running)``: the newest
    run a comparison labelled (its role), when one runs or when it started after the
    newest summary was written (between two of its runs). Its labels, with ``runs``: how
    many of its runs the store holds so far. None: no comparison runs."""
    since = None
    if written is not None:
        since = datetime.fromtimestamp(written["summary"].stat().st_mtime, UTC)
    ours = [(m, running) for m, running in runs if m.get("role") in _ROLES and _started(m) is not None]
    if not ours:
        return None
    meta, running = max(ours, key=lambda mr: _aware(mr[0]))
    start = _aware(meta)
    if not running and since is not None and start <= since:
        return None  # the newest summary was written after it: that comparison is over
    same = [m for m, _ in ours if m.get("workload") == meta.get("workload")
            and m.get("workload_seed") == meta.get("workload_seed") and (since is None or _aware(m) > since)]
    return {**meta, "runs": len(same), "running": running}


def _aware(meta: Mapping[str, Any]) -> datetime:
    """When a run started, in UTC (a time written without its zone is UTC: started_utc)."""
    t = _started(meta)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def comparison_name(files: dict[str, Path], workloads: Mapping[str, str] | None = None) -> str:
    """A finished comparison's name: its stamp as a time, and its workload where the store
    knows the runs of its ``-runs.csv`` (``workloads``: run id -> workload)."""
    stem = files["summary"].name[: -len(".csv")]
    m = _STAMP.fullmatch(stem)
    when = stem
    if m is not None:
        try:
            when = datetime.strptime(m.group(1).rstrip("Z"), "%Y%m%dT%H%M%S").strftime("%Y-%m-%d %H:%M:%S UTC")
        except ValueError:
            pass
    what = ""
    if workloads and "runs" in files:
        try:
            ids = pd.read_csv(files["runs"], usecols=["run_id"])["run_id"].astype(str)
        except (ValueError, OSError):
            ids = pd.Series([], dtype=str)
        names = list(dict.fromkeys(workloads[i] for i in ids if i in workloads))
        what = f"{', '.join(names)}, " if names else ""
    return f"{what}finished {when} ({stem})"


def verdict_lines(files: dict[str, Path]) -> list[str] | None:
    """The verdicts of a finished comparison as the command prints them (on makespan and
    each reported metric with a better direction), read from its ``-verdicts.csv`` (and
    its ``-runs.csv`` for what the reported metrics mean); None for a file of another layout."""
    from ..analysis.stats import METRIC_INFO, describe_verdicts
    from ..experiments.comparison import metric_info

    v = pd.read_csv(files["verdicts"])
    cols = list(v.columns)
    if not {"metric", "versus", "verdict", "significant", "scale", "repeats_needed"} <= set(cols):
        return None
    label, by = cols[cols.index("versus") - 1], cols[: cols.index("metric")]
    reported = [m for m in dict.fromkeys(v["metric"].astype(str)) if m not in METRIC_INFO and m not in _REPORTED_HIDDEN]
    info = dict(METRIC_INFO)
    if reported and "runs" in files:
        per_run = pd.read_csv(files["runs"])
        reported = [m for m in reported if m in per_run.columns]
        info.update(metric_info(per_run, reported))
    shown = ["makespan_s", *(m for m in reported if m in info and info[m].better)]
    v = v[v["metric"].isin(shown)].astype({"repeats_needed": "Int64", "significant": bool})
    return describe_verdicts(v, label=label, by=by, info=info)


def _cell(r: pd.Series) -> str:
    if r["ci_low"] != r["ci_low"]:  # one run: no interval
        return f"{r['mean']:.3g}"
    return f"{r['mean']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"


def _summary_html(summary: pd.DataFrame) -> str:
    """The summary as set-ups by metric ('mean [95% CI]')."""
    keys = [c for c in ("algorithm", "stealing", "mode") if c in summary.columns]
    if not keys or not {"metric", "mean", "ci_low", "ci_high"} <= set(summary.columns):  # another layout: as it is
        return summary.head(_MAX_ROWS).to_html(escape=True, border=0, index=False, classes="swarmlab-comparison")
    from ..experiments.comparison import METRICS

    reported = [m for m in dict.fromkeys(summary["metric"].astype(str)) if m not in METRICS]
    shown = [*_COMPARED, *(m for m in _REPORTED_FIRST if m in reported),
             *(m for m in reported if m not in _REPORTED_FIRST)]
    s = summary[summary["metric"].isin(shown)] if summary["metric"].isin(_COMPARED).any() else summary
    s = s.assign(text=s.apply(_cell, axis=1))
    t = s.pivot_table(index=keys, columns="metric", values="text", aggfunc="first", sort=False)
    order = {m: i for i, m in enumerate(shown)}
    t = t[sorted(t.columns, key=lambda c: (order.get(c, len(order)), c))]
    t.columns.name = None  # (else an empty "metric" heading over the set-ups)
    return "<p>mean [95% CI] over the repeats</p>" + t.reset_index().to_html(
        escape=True, border=0, index=False, classes="swarmlab-comparison")


def comparison_html(files: dict[str, Path] | None, running: dict[str, Any] | None,
                    workloads: Mapping[str, str] | None = None) -> str:
    """The comparison section: the one running now (what it runs, how far it got), then
    the newest one written (named, its summary and its verdicts in sentences)."""
    parts = []
    if running is not None:
        wl = html.escape(str(running.get("workload") or "?"))
        n = f" &times; {int(running['workload_n'])}" if running.get("workload_n") else ""
        doing = "running" if running.get("running") else "between two runs"
        what = "the sequential baseline" if running.get("role") == "baseline" else \
            f"set-up {html.escape(str(running.get('setup') or running.get('algorithm') or '?'))}" + \
            (f", repeat {running['repeat']}" if running.get("repeat") is not None else "")
        parts.append(f"<h3 class='comparison-running'>comparison running now: workload {wl}{n}</h3>"
                     f"<p>{running['runs']} of its runs in the store so far; {doing}: run {running.get('order', '?')}"
                     f" ({what}), started {html.escape(str(running.get('started_utc', ''))[:19].replace('T', ' '))}"
                     " UTC. Its summary and verdicts are written when it ends.</p>")
    if files is None:
        return "".join(parts)
    head = "previous comparison" if running is not None else "latest comparison"
    parts.append(f"<h3>{head}: {html.escape(comparison_name(files, workloads))}</h3>")
    parts.append(_summary_html(pd.read_csv(files["summary"])))
    if "verdicts" in files:
        lines = verdict_lines(files)
        if lines is None:  # another layout: as it is
            parts.append("<h3>verdicts</h3>" + pd.read_csv(files["verdicts"]).head(_MAX_ROWS).to_html(
                escape=True, border=0, index=False, classes="swarmlab-verdicts"))
        else:
            parts.append("<h3>verdicts</h3><ul class='swarmlab-verdicts'>"
                         + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
    return "".join(parts)
