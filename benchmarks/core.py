"""The benchmarks: each returns rows that put swarmlab next to a raw baseline.

Every figure is the median of ``Settings.reps`` repetitions, swarmlab and its baseline
measured alternately within each repetition so that machine noise hits both. Each case
runs in its own ``asyncio.run``. Swarmlab's timings start before the ``Task`` objects
are built (the raw baselines build their coroutines or futures inside their timings
too) and end when ``wait_for_completion`` returns; ``start()`` is never timed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import gc
import multiprocessing
import os
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from functools import partial
from typing import Any, TypeVar

import psutil

import swarmlab as sl
from swarmlab.events import ATTEMPT_FIELDS, EVENT, TASK_INFO_FIELDS, Recorder, attempt_row, task_info_row

from ._harness import Row, Settings, Stopwatch, medians

__all__ = ["BENCHMARKS", "noop_throughput", "latency", "sleep_makespan", "cpu_makespan", "memory"]

T = TypeVar("T")

# Seconds a run may take before it counts as hung: the benchmark then fails loudly.
HANG_S = 120.0
# Seconds ``stop`` gives running tasks when an executor is closed.
STOP_S = 5.0
# Untimed operations before each latency measurement (first-call costs).
WARM_OPS = 5
# Cores the CPU benchmark spreads over (its executors' max_concurrent_tasks).
CORES = 2
SLEEP_S = 0.010
CPU_TASK_S = 0.050
SLEEP_CONCURRENCY = 100
# A task's timeout in the reaction cases; its body sleeps ten times as long (a thread
# cannot be interrupted: it sleeps on, abandoned, so not for long).
TIMEOUT_S = 0.3
# Seconds stop() grants running tasks in the stop case: then it kills them.
STOP_GRACE_S = 0.1


# ---------------------------------------------------------------- task bodies
def noop(x: object = None) -> None:
    """Does nothing (the sync task body)."""


async def anoop(x: object = None) -> None:
    """Does nothing (the coroutine task body)."""


def spin(n: int) -> int:
    """Pure-Python busy loop of ``n`` iterations; holds the GIL throughout."""
    total = 0
    for i in range(n):
        total += i
    return total


def worker_pid(delay: float) -> int:
    """Sleep ``delay`` seconds and return this process's id (to see every pool worker)."""
    time.sleep(delay)
    return os.getpid()


# ---------------------------------------------------------------- helpers
def _arun(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """``asyncio.run(fn(*args))``: one event loop per case."""
    return asyncio.run(fn(*args))


def _elapsed(fn: Callable[..., object], *args: Any) -> float:
    """Seconds for one call ``fn(*args)``."""
    with Stopwatch() as sw:
        fn(*args)
    return sw.elapsed


@contextlib.asynccontextmanager
async def _executor(mode: str, max_concurrent: int,
                    max_queue: int = 1000) -> AsyncIterator[sl.ParallelExecutor]:
    """A started executor without task timeouts, stopped on exit."""
    # CPU and memory limits off: these benchmarks measure the engine, not admission control.
    limits = sl.ResourceLimits(max_concurrent_tasks=max_concurrent, max_queue_size=max_queue,
                               max_cpu_percent=None, max_memory_mb=None,
                               task_timeout=None)
    ex = sl.ParallelExecutor(mode=mode, limits=limits)
    await asyncio.wait_for(ex.start(), HANG_S)
    try:
        yield ex
    finally:
        await ex.stop(timeout=STOP_S)


async def _check_completed(ex: sl.ParallelExecutor, ids: list[str]) -> None:
    """Raise unless every task in ``ids`` completed (a failing run would look fast)."""
    results = await ex.get_all_results()
    bad = [results.get(i) for i in ids if i not in results or not results[i].ok]
    if bad:
        raise RuntimeError(
            f"{len(bad)} of {len(ids)} {ex.mode.value} tasks did not complete; first: {bad[0]!r}"
        )


async def _run_batch(ex: sl.ParallelExecutor, n: int, fn: Callable[..., Any], args: tuple,
                     kind: str | None) -> float:
    """Seconds from building and submitting ``n`` tasks to ``wait_for_completion`` returning."""
    with Stopwatch() as sw:
        ids = await ex.submit_batch([sl.Task(fn, args, kind=kind) for _ in range(n)])
        done = await ex.wait_for_completion(timeout=HANG_S)
    if not done:
        raise RuntimeError(f"{ex.mode.value}: {n} tasks still unfinished after {HANG_S:.0f} s (hung?)")
    await _check_completed(ex, ids)
    return sw.elapsed


async def _swarmlab_batch(mode: str, max_concurrent: int, n: int, fn: Callable[..., Any],
                          args: tuple = (), kind: str | None = None,
                          warm: int = 0) -> tuple[float, sl.RunRecord]:
    """Time one batch of ``n`` tasks on a fresh executor; also return its record.

    ``warm`` no-op tasks run first, untimed, so that process workers have imported the
    module of the task functions (the raw pools are warmed the same way).
    """
    async with _executor(mode, max_concurrent, max(n, warm)) as ex:
        if warm:
            await _run_batch(ex, warm, noop, (), kind)
        wall = await _run_batch(ex, n, fn, args, kind)
        return wall, ex.record()


def _swarmlab_wall(*args: Any, **kwargs: Any) -> float:
    """Wall seconds of :func:`_swarmlab_batch` in its own event loop."""
    return asyncio.run(_swarmlab_batch(*args, **kwargs))[0]


async def _swarmlab_one_by_one(mode: str, max_concurrent: int, n: int, fn: Callable[..., Any]) -> float:
    """Seconds for ``n`` tasks submitted as the original's users write it, one
    ``await ex.submit_task(Task(fn))`` at a time, then ``wait_for_completion``."""
    async with _executor(mode, max_concurrent, n) as ex:
        with Stopwatch() as sw:
            ids = [await ex.submit_task(sl.Task(fn)) for _ in range(n)]
            done = await ex.wait_for_completion(timeout=HANG_S)
        if not done:
            raise RuntimeError(f"{mode}: {n} tasks still unfinished after {HANG_S:.0f} s (hung?)")
        await _check_completed(ex, ids)
        return sw.elapsed


def _pair(ours: Callable[[], float], raw: Callable[[], float], reps: int) -> tuple[float, float]:
    """Medians of swarmlab's figure and its baseline's, measured alternately rep by rep.

    A collection (untimed) comes between the two: a run's records are freed by the cycle
    collector once its executor is dropped (46,100 objects for 20,000 THREAD no-op tasks),
    which otherwise happened inside the baseline's timing (``asyncio.gather`` of 20,000
    no-ops measured 0.52 s right after a swarmlab run, 0.26 s after a collection)."""

    def both() -> dict[str, float]:
        mine = ours()
        gc.collect()
        return {"ours": mine, "raw": raw()}

    m = medians(both, reps)
    return m["ours"], m["raw"]


def _recorded_makespan(rec: sl.RunRecord) -> float:
    """What the record says: last finish minus first submission."""
    t = rec.tasks
    return float(t["finished_s"].max() - t["submitted_s"].min())


@contextlib.contextmanager
def _process_pool(workers: int) -> Iterator[cf.ProcessPoolExecutor]:
    """A spawn ProcessPoolExecutor whose every worker is up and has imported this module."""
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        seen: set[int] = set()
        for _ in range(100):
            seen.update(pool.map(worker_pid, [0.02] * workers))
            if len(seen) == workers:
                break
        else:
            raise RuntimeError(f"only {len(seen)} of {workers} pool workers came up")
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _raw_thread_map(fn: Callable[[Any], object], items: Iterable[Any], workers: int) -> float:
    """Seconds for ``ThreadPoolExecutor(workers).map(fn, items)`` (threads start lazily,
    as swarmlab's do)."""
    with cf.ThreadPoolExecutor(workers) as pool, Stopwatch() as sw:
        list(pool.map(fn, items))
    return sw.elapsed


def _raw_process_map(fn: Callable[[Any], object], items: Iterable[Any], workers: int) -> float:
    """Seconds for ``ProcessPoolExecutor(workers).map(fn, items, chunksize=1)``, warm pool."""
    with _process_pool(workers) as pool, Stopwatch() as sw:
        list(pool.map(fn, items, chunksize=1))
    return sw.elapsed


async def _raw_gather(n: int) -> float:
    """Seconds for ``asyncio.gather`` of ``n`` no-op coroutines."""
    with Stopwatch() as sw:
        await asyncio.gather(*(anoop(i) for i in range(n)))
    return sw.elapsed


async def _raw_sleep_gather(n: int, limit: int, seconds: float) -> float:
    """Seconds for ``n`` ``asyncio.sleep`` calls, at most ``limit`` at once (a semaphore)."""
    sem = asyncio.Semaphore(limit)

    async def one() -> None:
        async with sem:
            await asyncio.sleep(seconds)

    with Stopwatch() as sw:
        await asyncio.gather(*(one() for _ in range(n)))
    return sw.elapsed


# ---------------------------------------------------------------- 1. no-op throughput
def noop_throughput(s: Settings) -> list[Row]:
    """No-op tasks per second, swarmlab vs the bare standard-library equivalent."""
    n, n_proc = s.size(20_000, 2_000), s.size(5_000, 500)
    # (label, tasks, swarmlab, raw, least share of the raw throughput)
    cases: list[tuple[str, int, Callable[[], float], Callable[[], float], float]] = [
        ("ASYNCIO (raw: asyncio.gather)", n,
         partial(_swarmlab_wall, "asyncio", 1000, n, anoop), partial(_arun, _raw_gather, n), 0.7),
        ("THREAD, 8 threads (raw: ThreadPoolExecutor.map)", n,
         partial(_swarmlab_wall, "thread", 8, n, noop), partial(_raw_thread_map, noop, range(n), 8), 0.9),
        ("THREAD, 8 threads, one await submit_task(Task(fn)) per task, then wait "
         "(raw: ThreadPoolExecutor.map)", n,
         partial(_arun, _swarmlab_one_by_one, "thread", 8, n, noop),
         partial(_raw_thread_map, noop, range(n), 8), 0.9),
        ("PROCESS, 2 workers (raw: ProcessPoolExecutor.map, chunksize=1)", n_proc,
         partial(_swarmlab_wall, "process", 2, n_proc, noop, warm=2),
         partial(_raw_process_map, noop, range(n_proc), 2), 0.5),
    ]
    rows, budgets = [], []
    for label, count, ours, raw, share in cases:
        t, t_raw = _pair(ours, raw, s.reps)
        tput, raw_tput = count / t, count / t_raw
        rows.append(Row("noop_throughput", f"{label}, {count:,} tasks", tput, raw_tput, "tasks/s",
                        f">= {share:g}x raw", tput >= share * raw_tput))
        if share > 0.5:  # what swarmlab adds to a task, against what the target leaves it
            added, raw_us = (t - t_raw) / count * 1e6, t_raw / count * 1e6
            budgets.append(Row("noop_throughput", f"{label.split(' (raw')[0]}: what swarmlab adds to a task's time "
                               f"(baseline: what >= {share:g}x leaves it, the raw's / {share:g} - the raw's)",
                               added, raw_us / share - raw_us, "us", "(information)", None))
    return rows + budgets + _asyncio_parts(n, 1 if s.quick else s.reps)


def _replayed_s(recorder: Recorder) -> float:
    """Seconds to append ``recorder``'s event, attempt and task rows again, each through
    the call the run made it with (``emit``, the row builders): what recording cost."""
    again = Recorder()
    events = [row[1:] for row in recorder.events]
    attempts = [dict(zip(ATTEMPT_FIELDS, row)) for row in recorder.attempts]
    infos = [dict(zip(TASK_INFO_FIELDS, row)) for row in recorder.task_info]
    emit, add_attempt, add_info = again.emit, again.attempts.append, again.task_info.append
    with Stopwatch() as sw:
        for row in events:
            emit(*row)
        for kw in attempts:
            add_attempt(attempt_row(**kw))
        for kw in infos:
            add_info(task_info_row(**kw))
    return sw.elapsed


async def _asyncio_parts_once(n: int) -> dict[str, float]:
    """Microseconds per task of one ASYNCIO no-op batch, by part, and of ``asyncio.gather``."""
    async with _executor("asyncio", 1000, n) as ex:
        wall = await _run_batch(ex, n, anoop, (), None)
        deciding = ex.record().meta["scheduling_metrics"]["scheduling_time"]
        recording = _replayed_s(ex.recorder)
    del ex
    gc.collect()  # the run's records (see _pair)
    raw = await _raw_gather(n)
    return {"all": wall / n * 1e6, "dispatch": deciding / n * 1e6, "record": recording / n * 1e6,
            "rest": (wall - deciding) / n * 1e6, "raw": raw / n * 1e6}


def _asyncio_parts(n: int, reps: int) -> list[Row]:
    """Where an ASYNCIO no-op task's time goes: the dispatcher's decisions (the seconds the
    engine measures around them, ``scheduling_time``), recording (the rows those decisions
    append, timed again apart), and the engine with the backend (the rest of the wall)."""
    m = medians(lambda: _arun(_asyncio_parts_once, n), reps)
    case = f"ASYNCIO per no-op task, {n:,} tasks"
    info = "(information)"
    return [
        Row("noop_throughput", f"{case}: all (raw: asyncio.gather's per coroutine)", m["all"], m["raw"], "us",
            info, None),
        Row("noop_throughput", f"{case}: dispatch (dispatcher decisions, the rows they record included)",
            m["dispatch"], None, "us", info, None),
        Row("noop_throughput", f"{case}: record (the run's event, attempt and task rows appended again)",
            m["record"], None, "us", info, None),
        Row("noop_throughput", f"{case}: engine and backend (the rest: worker hand-offs, loop, bodies)",
            m["rest"], None, "us", info, None),
    ]


# ---------------------------------------------------------------- 2. latency
async def _median_latency_ms(op: Callable[[], Awaitable[object]], n: int) -> float:
    """Median milliseconds of ``await op()`` over ``n`` sequential calls (after warm-up)."""
    samples = []
    for _ in range(WARM_OPS + n):
        with Stopwatch() as sw:
            await op()
        samples.append(sw.elapsed)
    return statistics.median(samples[WARM_OPS:]) * 1e3


async def _swarmlab_latency(mode: str, fn: Callable[..., Any], n: int) -> float:
    async with _executor(mode, 2) as ex:

        async def op() -> None:
            res = await ex.get_result(await ex.submit_task(sl.Task(fn)), timeout=HANG_S)
            if not res.ok:
                raise RuntimeError(f"{mode} latency task did not complete: {res!r}")

        return await _median_latency_ms(op, n)


async def _raw_task_latency(n: int) -> float:
    return await _median_latency_ms(lambda: asyncio.create_task(anoop()), n)


async def _raw_executor_latency(pool: cf.Executor, n: int) -> float:
    loop = asyncio.get_running_loop()
    return await _median_latency_ms(lambda: loop.run_in_executor(pool, noop), n)


def _raw_thread_latency(n: int) -> float:
    with cf.ThreadPoolExecutor(2) as pool:
        return asyncio.run(_raw_executor_latency(pool, n))


def _raw_process_latency(n: int) -> float:
    with _process_pool(2) as pool:
        return asyncio.run(_raw_executor_latency(pool, n))


async def _timeout_overrun_ms(mode: str) -> float:
    """Milliseconds from a task's timeout to the end of its attempt (recorded run time
    less the timeout)."""
    body = asyncio.sleep if mode == "asyncio" else time.sleep
    async with _executor(mode, 2) as ex:
        tid = await ex.submit_task(sl.Task(body, (10 * TIMEOUT_S,), timeout=TIMEOUT_S))
        res = await ex.get_result(tid, timeout=HANG_S)
    if res.status is not sl.TaskStatus.TIMED_OUT:
        raise RuntimeError(f"{mode}: a task past its timeout ended {res.status.value}: {res!r}")
    return (res.run_s - TIMEOUT_S) * 1e3


def _started(ex: sl.ParallelExecutor) -> int:
    """Attempts that have begun running."""
    kind = EVENT.event
    return sum(1 for e in ex.recorder.since(0) if e[kind] == "started")


async def _stop_s(workers: int) -> float:
    """Seconds ``stop(timeout=STOP_GRACE_S)`` takes with every PROCESS worker busy and a
    task waiting: the grace, then the workers killed and the run's ends recorded."""
    limits = sl.ResourceLimits(max_concurrent_tasks=workers, max_cpu_percent=None, max_memory_mb=None,
                               task_timeout=None)
    ex = sl.ParallelExecutor(mode="process", limits=limits)
    await asyncio.wait_for(ex.start(), HANG_S)
    try:
        await ex.submit_batch([sl.Task(worker_pid, (HANG_S,)) for _ in range(workers + 1)])
        deadline = time.monotonic() + HANG_S
        while _started(ex) < workers:  # every worker has its task
            if time.monotonic() > deadline:
                raise RuntimeError(f"PROCESS: {workers} workers never all started (hung?)")
            await asyncio.sleep(0.01)
        with Stopwatch() as sw:
            await ex.stop(timeout=STOP_GRACE_S)
    finally:
        await ex.stop(timeout=0)
    return sw.elapsed


def latency(s: Settings) -> list[Row]:
    """Submit-to-result latency of one no-op task at a time; how soon a task past its
    timeout ends; how long stop takes with busy process workers."""
    n = s.size(200, 50)
    cases: list[tuple[str, Callable[[], float], Callable[[], float]]] = [
        ("ASYNCIO (raw: await asyncio.create_task)",
         partial(_arun, _swarmlab_latency, "asyncio", anoop, n), partial(_arun, _raw_task_latency, n)),
        ("THREAD (raw: loop.run_in_executor, ThreadPoolExecutor)",
         partial(_arun, _swarmlab_latency, "thread", noop, n), partial(_raw_thread_latency, n)),
        ("PROCESS (raw: loop.run_in_executor, ProcessPoolExecutor)",
         partial(_arun, _swarmlab_latency, "process", noop, n), partial(_raw_process_latency, n)),
    ]
    rows = []
    for label, ours, raw in cases:
        ms, raw_ms = _pair(ours, raw, s.reps)
        rows.append(Row("latency", f"{label}, median of {n}", ms, raw_ms, "ms", "< 1 ms", ms < 1.0))
    for mode in ("thread", "process", "asyncio", "hybrid"):
        m = medians(lambda mode=mode: {"ms": _arun(_timeout_overrun_ms, mode)}, s.reps)
        rows.append(Row("latency", f"{mode.upper()}: a task past its {TIMEOUT_S:g} s timeout ends this much later",
                        m["ms"], None, "ms", "< 50 ms", m["ms"] < 50))
    m = medians(lambda: {"s": _arun(_stop_s, 2)}, s.reps)
    rows.append(Row("latency", f"PROCESS: stop(timeout={STOP_GRACE_S:g}) with 2 workers busy and a task waiting",
                    m["s"], None, "s", f"< {STOP_GRACE_S + 0.4:g} s (the grace + 0.4 s)", m["s"] < STOP_GRACE_S + 0.4))
    return rows


# ---------------------------------------------------------------- 3. sleep makespan
def _sleep_figures(mode: str, fn: Callable[..., Any], n: int, raw: Callable[[], float]) -> dict[str, float]:
    """Swarmlab's wall and recorded makespans of ``n`` sleeps, and the raw baseline's."""
    wall, rec = asyncio.run(_swarmlab_batch(mode, SLEEP_CONCURRENCY, n, fn, (SLEEP_S,)))
    return {"wall": wall, "recorded": _recorded_makespan(rec), "raw": raw()}


def _compare_speedup() -> float:
    """The median speedup ``compare()`` measures for 8 agents over its sequential
    baseline: 8 sleeps of about 2 ms, ASYNCIO, two repeats."""
    from swarmlab.experiments.comparison import compare

    result = compare(sl.workloads.io(8, seed=2, mean_s=0.002), algorithms=["least_loaded"], modes=["asyncio"],
                     repeats=2)
    p = result.per_run
    return float(p.loc[p["role"] == "measured", "speedup"].median())


def sleep_makespan(s: Settings) -> list[Row]:
    """Many short sleeps, 100 at a time: the makespan against the ideal N x 10 ms / 100;
    and the speedup ``compare()`` measures for sleeps on 8 agents over one."""
    n = s.size(2_000, 400)
    ideal = n * SLEEP_S / SLEEP_CONCURRENCY
    bound = 1.25 * ideal
    target = f"<= {bound:.3f} s (1.25x ideal {ideal:.3f} s)"
    cases: list[tuple[str, str, Callable[..., Any], Callable[[], float]]] = [
        ("THREAD, time.sleep (raw: ThreadPoolExecutor(100).map)", "thread", time.sleep,
         partial(_raw_thread_map, time.sleep, [SLEEP_S] * n, SLEEP_CONCURRENCY)),
        ("ASYNCIO, asyncio.sleep (raw: gather + Semaphore(100))", "asyncio", asyncio.sleep,
         partial(_arun, _raw_sleep_gather, n, SLEEP_CONCURRENCY, SLEEP_S)),
    ]
    rows = []
    for label, mode, fn, raw in cases:
        m = medians(partial(_sleep_figures, mode, fn, n, raw), s.reps)
        case = f"{label}, {n:,} x {SLEEP_S * 1e3:.0f} ms"
        rows.append(Row("sleep_makespan", case, m["wall"], m["raw"], "s", target, m["wall"] <= bound))
        rows.append(Row("sleep_makespan", f"{case}, as recorded in rec.tasks", m["recorded"], m["raw"],
                        "s", "(information)", None))
    speedup = medians(lambda: {"x": _compare_speedup()}, s.reps)["x"]
    rows.append(Row("sleep_makespan", "compare(): io workload, 8 sleeps of ~2 ms on 8 agents, ASYNCIO: speedup "
                    "over its sequential baseline", speedup, None, "x", "> 4x (8 agents)", speedup > 4))
    return rows


# ---------------------------------------------------------------- 4. CPU makespan
def _calibrate(seconds: float) -> int:
    """Iterations of :func:`spin` that take about ``seconds`` here (fastest of 3 timings)."""
    n = 100_000
    for _ in range(3):
        best = min(_elapsed(spin, n) for _ in range(3))
        n = max(1, round(n * seconds / best))
    return n


def _serial(iters: int, n: int) -> float:
    """Seconds for ``n`` spin tasks one after the other in this process."""
    with Stopwatch() as sw:
        for _ in range(n):
            spin(iters)
    return sw.elapsed


def cpu_makespan(s: Settings) -> list[Row]:
    """CPU-bound tasks over 2 process workers: the makespan against serial time / 2."""
    n = s.size(40, 8)
    iters = _calibrate(CPU_TASK_S)

    def measure() -> dict[str, float]:
        return {
            "serial": _serial(iters, n),
            "process": _swarmlab_wall("process", CORES, n, spin, (iters,), warm=CORES),
            "hybrid": _swarmlab_wall("hybrid", CORES, n, spin, (iters,), kind="cpu", warm=CORES),
            "raw": _raw_process_map(spin, [iters] * n, CORES),
        }

    m = medians(measure, s.reps)
    bound = 1.10 * m["serial"] / CORES
    target = f"<= {bound:.3f} s (1.10x serial {m['serial']:.3f} s / {CORES})"
    size = f"{n} x {m['serial'] / n * 1e3:.0f} ms"
    raw = "raw: ProcessPoolExecutor(2).map"
    return [
        Row("cpu_makespan", f"PROCESS, 2 workers, {size} ({raw})", m["process"], m["raw"], "s",
            target, m["process"] <= bound),
        Row("cpu_makespan", f"HYBRID kind='cpu', 2 workers, {size} ({raw})", m["hybrid"], m["raw"], "s",
            target, m["hybrid"] <= bound),
    ]


# ---------------------------------------------------------------- 5. memory
def _rss_mb() -> float:
    """This process's resident memory in MB, after a full garbage collection."""
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


async def _swarmlab_queued(n: int) -> float:
    gate = threading.Event()
    async with _executor("thread", 1, n + 1) as ex:
        await ex.submit_task(sl.Task(gate.wait))
        await asyncio.sleep(0.05)  # the gate task's thread is up
        before = _rss_mb()
        await ex.submit_batch([sl.Task(noop) for _ in range(n)])
        grown = _rss_mb() - before
        if ex.get_queue_size() != n:
            raise RuntimeError(f"{n - ex.get_queue_size()} tasks ran past the gate; measure again")
        gate.set()
    return grown


def swarmlab_queued_mb(n: int) -> float:
    """RSS growth (MB) of ``n`` no-op tasks queued behind a gate task in THREAD mode."""
    return asyncio.run(_swarmlab_queued(n))


def raw_queued_mb(n: int) -> float:
    """RSS growth (MB) of ``n`` no-op calls queued in ``ThreadPoolExecutor(1)`` behind a gate."""
    gate = threading.Event()
    pool = cf.ThreadPoolExecutor(1)
    try:
        pool.submit(gate.wait)
        time.sleep(0.05)
        before = _rss_mb()
        for _ in range(n):
            pool.submit(noop)
        return _rss_mb() - before
    finally:
        gate.set()
        pool.shutdown(cancel_futures=True)


def _in_fresh_interpreter(fn: Callable[[int], float], n: int) -> float:
    """``fn(n)`` in a new spawned interpreter, so that memory freed earlier hides nothing."""
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, n).result(timeout=HANG_S)


def memory(s: Settings) -> list[Row]:
    """RSS growth of many queued (not yet running) no-op tasks in THREAD mode."""
    n = s.size(100_000, 10_000)
    budget = 150 * n / 100_000
    mb, raw_mb = _pair(partial(_in_fresh_interpreter, swarmlab_queued_mb, n),
                       partial(_in_fresh_interpreter, raw_queued_mb, n), s.reps)
    case = (f"THREAD, {n:,} queued no-op tasks, {mb * 2**20 / n:,.0f} B/task "
            "(raw: ThreadPoolExecutor(1).submit)")
    return [Row("memory", case, mb, raw_mb, "MB", f"<= {budget:g} MB above idle", mb <= budget)]


BENCHMARKS: dict[str, Callable[[Settings], list[Row]]] = {
    "noop_throughput": noop_throughput,
    "latency": latency,
    "sleep_makespan": sleep_makespan,
    "cpu_makespan": cpu_makespan,
    "memory": memory,
}
