"""The live views keep up: the dashboard's follower reads a journal faster than the fastest
run writes it; the panel says "stopping" as Stop is clicked, long before the run has stopped."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import swarmlab as sl
from swarmlab.analysis.figures import run_figures
from swarmlab.store.follow import JournalFollower, RunProgress
from swarmlab.store.journal import JOURNAL_NAME

from ._harness import Row, Settings, Stopwatch, medians

__all__ = ["follow_rate", "stop_latency"]


async def _anoop() -> None:
    """The cheapest task a run can have: its journal grows as fast as a run's can."""


def _journaled_run(n: int, root: Path) -> tuple[float, Path]:
    """A real journaled run of ``n`` no-op coroutines; its wall time and its journal."""

    async def main() -> tuple[float, str]:
        limits = sl.ResourceLimits(max_concurrent_tasks=1000, max_queue_size=n, max_cpu_percent=None,
                                   max_memory_mb=None)
        with Stopwatch() as sw:
            async with sl.ParallelExecutor(mode="asyncio", limits=limits, journal=str(root)) as ex:
                await ex.submit_batch([sl.Task(_anoop) for _ in range(n)])
        return sw.elapsed, ex.recorder.run_id

    wall, run_id = asyncio.run(main())
    return wall, root / run_id / JOURNAL_NAME


def _follow(path: Path) -> float:
    """Seconds to read the whole journal as the dashboard does, look after look, and to
    compute the run's figures from what was read (once: the page does at each look that
    read something)."""
    follower, progress = JournalFollower(path), RunProgress()
    with Stopwatch() as sw:
        while True:
            progress.feed(follower.poll())
            if not follower.behind:
                break
        figures = run_figures(progress.record())
    if figures.completed != figures.tasks or follower.offset != path.stat().st_size:
        raise RuntimeError(f"the follower read {figures.completed} of {figures.tasks} tasks")
    return sw.elapsed


def follow_rate(s: Settings) -> list[Row]:
    """Tasks per second the dashboard's follower reads from a finished run's journal, next to
    the tasks per second that run wrote it at (no-op coroutines: the fastest journal there is)."""
    n = s.size(100_000, 5_000)

    def measure() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as tmp:
            wall, path = _journaled_run(n, Path(tmp))
            return {"write": n / wall, "follow": n / _follow(path)}

    m = medians(measure, s.reps)
    return [Row("follow_rate", f"JournalFollower + RunProgress + run_figures, {n:,} no-op tasks (baseline: the run writing it)",
                m["follow"], m["write"], "tasks/s", ">= 1x the run (keeps up)", m["follow"] >= m["write"])]


def _stop_once(mode: str, n: int, root: Path) -> dict[str, float]:
    """Click Stop on a panel running ``n`` io tasks in ``mode`` once some have completed:
    seconds until its words say "stopping" and until they say "stopped"."""
    from swarmlab.ui.widgets import ExperimentPanel

    panel = ExperimentPanel(algorithms=["least_loaded"], workload="io", n=n, repeats=1, mode=mode,
                            store=root / "runs", export_dir=root / "exports")

    async def main() -> dict[str, float]:
        panel.run_button.click()
        while panel.monitor.executor() is None or panel.monitor.executor().get_metrics().tasks_completed < 5:
            await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        panel.stop_button.click()
        said = time.perf_counter() - t0 if "stopping" in panel.status.value else float("nan")
        while ">stopped:" not in panel.status.value:  # (the words "stopping: ... stopped" are not it)
            await asyncio.sleep(0.005)
        return {"stopping": said, "stopped": time.perf_counter() - t0}

    return asyncio.run(main())


def stop_latency(s: Settings) -> list[Row]:
    """Seconds from a click on the panel's Stop to its words saying "stopping", next to the
    seconds until they say "stopped" (the work stopping), per mode."""
    n = s.size(4000, 600)
    rows = []
    for mode in ("thread", "process"):
        def measure(mode: str = mode) -> dict[str, float]:
            with tempfile.TemporaryDirectory() as tmp:
                return _stop_once(mode, n, Path(tmp))

        m = medians(measure, s.reps)
        rows.append(Row("stop_latency", f"panel Stop -> 'stopping' shown, {mode}, {n:,} io tasks "
                        "(baseline: until 'stopped')", m["stopping"] * 1e3, m["stopped"] * 1e3, "ms",
                        "<= 50 ms (said at once)", m["stopping"] * 1e3 <= 50))
    return rows
