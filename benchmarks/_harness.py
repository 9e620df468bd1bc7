"""Timing helpers, result rows and Markdown tables for the benchmarks."""

from __future__ import annotations

import gc
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from types import TracebackType

__all__ = ["Settings", "Stopwatch", "medians", "Row", "render_table"]


@dataclass(frozen=True)
class Settings:
    """How hard to push: ``quick`` shrinks every size; ``reps`` runs per figure."""

    quick: bool = False
    reps: int = 3

    def size(self, full: int, quick: int) -> int:
        """The size to use: ``quick`` under ``--quick``, else ``full``."""
        return quick if self.quick else full


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.elapsed`` (seconds, perf_counter)."""

    elapsed: float = math.nan

    def __enter__(self) -> Stopwatch:
        self._t0 = perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.elapsed = perf_counter() - self._t0


def medians(measure: Callable[[], dict[str, float]], reps: int) -> dict[str, float]:
    """Run ``measure`` ``reps`` times (after a gc.collect each); the median of each figure."""
    runs = []
    for _ in range(reps):
        gc.collect()
        runs.append(measure())
    return {k: statistics.median(run[k] for run in runs) for k in runs[0]}


@dataclass
class Row:
    """One figure: swarmlab next to its baseline; ``ratio`` is swarmlab / baseline.

    ``met`` is None when the row has no target (shown for information).
    """

    benchmark: str
    case: str
    swarmlab: float
    baseline: float | None
    unit: str
    ratio: float | None = field(init=False)
    target: str
    met: bool | None

    def __post_init__(self) -> None:
        # plain Python values (pandas hands out numpy scalars), so the row dumps to JSON
        self.swarmlab = float(self.swarmlab)
        self.baseline = None if self.baseline is None else float(self.baseline)
        self.met = None if self.met is None else bool(self.met)
        self.ratio = self.swarmlab / self.baseline if self.baseline else None

    def summary(self) -> str:
        """One line: where, the figure, the ratio and the target."""
        ratio = "" if self.ratio is None else f", {self.ratio:.2f}x baseline"
        figure = _num(self.swarmlab, self.unit)
        return f"{self.benchmark} / {self.case}: {figure}{ratio} (target {self.target})"


def _num(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{text} {unit}"


def _met(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**MISSED**")


def render_table(title: str, rows: Sequence[Row]) -> str:
    """One Markdown table: case | swarmlab | baseline | ratio | target | met."""
    lines = [
        f"### {title}",
        "",
        "| case | swarmlab | baseline | ratio | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(
            f"| {r.case} | {_num(r.swarmlab, r.unit)} | {_num(r.baseline, r.unit)} | {ratio} "
            f"| {r.target} | {_met(r.met)} |"
        )
    return "\n".join(lines)
