"""Admission under resource limits: readings in, throttle and resume decisions out.

Pure: no clock, no loop, no dispatcher. The executor feeds it each resource sample (the
executor's process tree on the machine, or a Dask cluster's total) and applies what it
decides (``Dispatcher.set_throttled``), so the same decisions can be checked on virtual
time, reading by reading.

Hysteresis: admission pauses when any reading passes its limit and resumes only once
every reading is back under ``ResourceLimits.resume_fraction`` of its limit, so a
reading that hovers at the limit does not flip admission at each sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ..model import ResourceLimits
from .taskstate import TaskState

__all__ = ["Admission", "Decision", "over_task_memory"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Pause (``throttle=True``) or resume admission; ``reading`` says what was read,
    ``over`` which limits were passed (``"cpu"``, ``"memory"``: each a violation)."""

    throttle: bool
    reading: str
    over: tuple[str, ...] = ()


class _Reading(NamedTuple):
    kind: str  # the limit's name: "cpu", "memory"
    value: float
    limit: float
    text: str  # what was read, against what limit


class Admission:
    """Decides when admission pauses and resumes, from readings of what the limits cover.

    Parameters
    ----------
    limits : ResourceLimits
        ``max_cpu_percent`` (a share of ``cores``), ``max_memory_mb`` and ``resume_fraction``.

    Examples
    --------
    >>> a = Admission(ResourceLimits(max_memory_mb=100))
    >>> a.decide(False, cpu_pct=0, cores=1, rss_mb=120).throttle
    True
    >>> a.decide(True, cpu_pct=0, cores=1, rss_mb=95) is None  # above 90 %: still paused
    True
    >>> a.decide(True, cpu_pct=0, cores=1, rss_mb=80).throttle
    False
    """

    __slots__ = ("limits", "active")

    def __init__(self, limits: ResourceLimits) -> None:
        self.limits = limits
        self.active = limits.max_cpu_percent is not None or limits.max_memory_mb is not None

    def decide(self, throttled: bool, cpu_pct: float, cores: int, rss_mb: float,
               where: str = "the machine") -> Decision | None:
        """What to do given admission is ``throttled`` (or not) and these readings; None: nothing.

        Parameters
        ----------
        throttled : bool
            Whether admission is paused now.
        cpu_pct : float
            CPU in use, 100 per busy core, over ``cores`` cores.
        cores : int
            The cores the readings cover (the machine's, or a cluster's threads).
        rss_mb : float
            Resident memory of what the limits cover, MB.
        where : str
            Names what was read, for the event's text.
        """
        if not self.active:
            return None
        lim = self.limits
        readings = []
        if lim.max_cpu_percent is not None:
            share = cpu_pct / cores
            readings.append(_Reading("cpu", share, lim.max_cpu_percent,
                                     f"cpu {share:.1f}% of {where} ({cpu_pct:.0f}% of one core) vs limit "
                                     f"{lim.max_cpu_percent:g}%"))
        if lim.max_memory_mb is not None:
            readings.append(_Reading("memory", rss_mb, lim.max_memory_mb,
                                     f"memory {rss_mb:.0f} MB of {where} vs limit {lim.max_memory_mb:g} MB"))
        over = [r for r in readings if r.value > r.limit]
        if over and not throttled:
            return Decision(True, "; ".join(r.text for r in over), tuple(r.kind for r in over))
        if throttled and all(r.value < lim.resume_fraction * r.limit for r in readings):
            return Decision(False, "; ".join(r.text for r in readings))
        return None


def over_task_memory(running: Iterable[tuple[TaskState, int]], rss_by_pid: Mapping[int, float],
                     now: float, cap_mb: float) -> list[tuple[TaskState, int, float]]:
    """The attempts whose worker process reads over the per-task cap: ``(state, pid, rss_mb)``.

    ``running``: ``(task state, worker pid)`` of each attempt in a worker now. Only a
    reading taken after the attempt started counts against it (not its predecessor's).
    """
    out = []
    for st, pid in running:
        rss = rss_by_pid.get(pid)
        if rss is not None and rss > cap_mb and st.started_s is not None and now > st.started_s:
            out.append((st, pid, rss))
    return out
