"""The experiment panel's comparison in HTML: the table of set-ups by metric and the
verdicts in words.

Plain HTML strings (no widgets), every value escaped: what a run or a set-up is named
cannot put markup on the page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...experiments.comparison import Comparison

__all__ = ["TABLE_METRICS", "TABLE_REPORTED", "table_html", "verdicts_html", "resources_html"]

#: The metrics the table shows, in this order, where the summary has them.
TABLE_METRICS = ("throughput_tps", "makespan_s", "load_balance_score", "p95_wait_s")
#: After them, what an agent swarm's bodies reported, where they did: its 429s, tokens
#: and cost (the other reported sums are in the summary and the comparison's verdicts).
TABLE_REPORTED = ("rate_limited", "tokens", "cost_usd")
_NUM = "white-space:nowrap;text-align:right;padding:2px 8px"


def _cell(r: pd.Series) -> str:
    """'mean' over '[ci_low, ci_high]' in one cell that does not wrap."""
    mean = html.escape(f"{r['mean']:.3g}")
    if r["ci_low"] != r["ci_low"]:  # one run: no interval
        ci = "one run"
    else:
        ci = f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
    return f'<td style="{_NUM}">{mean}<br><small>{html.escape(ci)}</small></td>'


def table_html(summary: pd.DataFrame, info: Mapping[str, Any] | None = None) -> str:
    """Set-ups and algorithms by metric: the mean over its 95 % interval, n runs; every
    header with its unit and which way is better; all text escaped. ``info``: the
    comparison's metrics (``Comparison.metric_info``), for the reported ones shown after
    the built-in ones (:data:`TABLE_REPORTED`)."""
    from ...analysis.stats import METRIC_INFO, reported_info

    shown = (*TABLE_METRICS, *TABLE_REPORTED)
    s = summary[summary["metric"].isin(shown)]
    metrics = [m for m in shown if m in set(s["metric"])]
    infos = {**{m: reported_info(m) for m in TABLE_REPORTED}, **(info or {}), **METRIC_INFO}
    head = "".join(
        f'<th style="{_NUM}">{html.escape(infos[m].label)}<br>'
        f'<small>{html.escape(infos[m].better or "")} is better</small></th>' for m in metrics)
    rows = []
    for (setup, alg), g in s.groupby(["setup", "algorithm"], sort=True, observed=True):
        by = g.set_index("metric")
        cells = "".join(_cell(by.loc[m]) for m in metrics)
        n = int(by.loc[metrics[0], "n"]) if metrics else 0
        rows.append(f'<tr><td style="padding:2px 8px;max-width:22em">{html.escape(str(setup))}</td>'
                    f'<td style="padding:2px 8px;white-space:nowrap">{html.escape(str(alg))}</td>'
                    f'<td style="{_NUM}">{n}</td>{cells}</tr>')
    return ('<table class="swarmlab-comparison" style="border-collapse:collapse;font-variant-numeric:tabular-nums">'
            f'<thead><tr><th style="padding:2px 8px">set-up</th><th style="padding:2px 8px">algorithm</th>'
            f'<th style="{_NUM}">runs</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            '<small>mean over its 95 % interval; warm-up and baseline runs left out</small>')


def verdicts_html(comparison: Comparison) -> str:
    """The verdicts on makespan and on what the bodies reported (tokens, cost), the limit
    that binds every set-up and the drift check, in words, one item each."""
    lines = comparison.report()
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return (f'<div class="swarmlab-verdicts"><b>Verdicts</b> <small>(best set-up against each other; Welch t tests, '
            f'Holm-corrected; panel.comparison.verdicts has every metric)</small><ul>{items}</ul></div>')


def resources_html(table: pd.DataFrame) -> str:
    """The resource table of a run (:func:`swarmlab.analysis.limits.resource_table`) in
    HTML, one row per resource; empty text for a run without limits."""
    if table.empty:
        return ""
    rows = []
    for r in table.itertuples(index=False):
        cap = f"{r.capacity:g} per {r.per_s:g} s" if r.kind == "rate" else f"{r.capacity:g}"
        cells = [f"{r.kind} {r.resource}", cap, f"{r.in_use:.3g}", f"{r.running}", f"{r.held_now}",
                 f"{r.held_s:.3g}", f"{r.unit_s:.3g}"]
        rows.append("<tr>" + "".join(f'<td style="{_NUM}">{html.escape(c)}</td>' for c in cells) + "</tr>")
    head = "".join(f'<th style="{_NUM}">{h}</th>' for h in (
        "resource", "capacity", "in use", "attempts holding it", "tasks held back", "held back s", "unit-s used"))
    return ('<table class="swarmlab-resources" style="border-collapse:collapse;font-variant-numeric:tabular-nums">'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "<small>now: units in use (a rate's: taken, not yet refilled), attempts holding them, tasks held back "
            "waiting for them; over the run: seconds tasks were held back, unit-seconds held (a rate's: units "
            "taken)</small>")
