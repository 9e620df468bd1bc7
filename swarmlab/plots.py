"""Plots: ``f(frame, *, ax=None, ...) -> Axes``, from frames only; never the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["compare"]


def compare(summary: pd.DataFrame, metric: str = "makespan_s", *, ax: Axes | None = None) -> Axes:
    """Algorithms side by side, one bar per mode, with their 95 % confidence intervals.

    ``summary`` is a :class:`~swarmlab.compare.Comparison`'s ``summary`` (long format).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    rows = summary[summary["metric"] == metric]
    if rows.empty:
        have = ", ".join(sorted(summary["metric"].unique()))
        raise ConfigError(f"metric must be one of {have}; got {metric!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    algs = list(dict.fromkeys(rows["algorithm"]))
    modes = list(dict.fromkeys(rows["mode"]))
    width = 0.8 / len(modes)
    x = np.arange(len(algs))
    for i, mode in enumerate(modes):
        r = rows[rows["mode"] == mode].set_index("algorithm").reindex(algs)
        err = np.vstack([r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]])
        ax.bar(x + i * width - 0.4 + width / 2, r["mean"], width, yerr=np.nan_to_num(err), capsize=3, label=mode)
    ax.set_xticks(x, algs, rotation=20, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean and 95% CI over repeats")
    ax.legend(title="mode")
    return ax
