"""Soak: many tasks through the real executor with faults of every kind injected.

Per mode: tasks lost (must be 0), tasks that completed twice (0), tasks not ending in
exactly one terminal state (0), processes left behind after stop (0), the resident memory
retained per task after a warm-up, and the rate. About 5 % of the tasks misbehave: they
raise, fail once then succeed on retry, outlive their timeout, are cancelled while they
run or wait, raise SystemExit / KeyboardInterrupt / CancelledError from the body, or (PROCESS)
kill their own worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time

import psutil

import swarmlab as sl

from ._harness import Row, Settings

__all__ = ["soak"]

#: Each fault kind's share of the tasks (the rest complete normally).
FAULTS = (("raise", 0.01), ("retry", 0.01), ("timeout", 0.01), ("cancel", 0.01), ("base_exception", 0.005),
          ("crash", 0.005))
TIMEOUT_S = 0.01  # the misbehaving tasks' own timeout
SLOW_S = 0.05  # how long a timed-out or cancelled body runs
CHUNK = 5000


def _plan(n: int, seed: int, crash: bool) -> list[str]:
    rng = random.Random(seed)
    kinds = []
    for _ in range(n):
        r, kind = rng.random(), "ok"
        for name, share in FAULTS:
            if r < share:
                kind = name if (name != "crash" or crash) else "raise"
                break
            r -= share
        kinds.append(kind)
    return kinds


def sync_body(kind: str, *, agent: object = None, attempt: int = 1) -> str:
    if kind == "ok":
        return kind
    if kind == "raise":
        raise ValueError("injected")
    if kind == "retry":
        if attempt == 1:
            raise RuntimeError("injected, once")
        return kind
    if kind in ("timeout", "cancel"):
        time.sleep(SLOW_S)
        return kind
    if kind == "base_exception":
        raise (SystemExit if attempt % 2 else KeyboardInterrupt)("injected")
    os._exit(3)  # crash: the worker dies under its task


async def async_body(kind: str, *, agent: object = None, attempt: int = 1) -> str:
    if kind in ("timeout", "cancel"):
        await asyncio.sleep(SLOW_S)
        return kind
    if kind == "base_exception":
        raise asyncio.CancelledError("injected by the body itself")
    return sync_body(kind, agent=agent, attempt=attempt)


def _task(i: int, kind: str, mode: str) -> sl.Task:
    fn = async_body if mode == "asyncio" else sync_body
    slow = kind in ("timeout", "cancel")
    return sl.Task(fn, (kind,), id=f"s{i}", with_agent=True, max_retries=1 if kind == "retry" else 0,
                   retry_on=(RuntimeError,), retry_backoff_s=0.001, timeout=TIMEOUT_S if kind == "timeout" else None,
                   kind="cpu" if mode == "process" else None, estimate_s=SLOW_S if slow else 0.0001)


async def _soak(mode: str, n: int, seed: int) -> dict[str, float]:
    kinds = _plan(n, seed, crash=mode == "process")
    limits = sl.ResourceLimits(max_queue_size=4 * CHUNK, max_cpu_percent=None, max_memory_mb=None, task_timeout=None)
    agents = [sl.Agent(f"a{i}", capacity=8 if mode != "process" else 1) for i in range(4 if mode != "process" else 2)]
    me = psutil.Process()
    ex = sl.ParallelExecutor(mode=mode, limits=limits, agents=agents, seed=seed)
    await ex.start()
    warm_rss, warm_at = None, 0
    chunk_n = min(CHUNK, max(1, n // 20))
    t0 = time.perf_counter()
    try:
        for start in range(0, n, chunk_n):
            while ex.get_metrics().tasks_queued > 2 * chunk_n:
                await asyncio.sleep(0.005)
            chunk = [_task(i, kinds[i], mode) for i in range(start, min(n, start + chunk_n))]
            ids = await ex.submit_batch(chunk)
            for tid, t in zip(ids, chunk):
                if t.args[0] == "cancel":
                    await ex.cancel_task(tid)
            if warm_rss is None and start >= n // 10:
                warm_rss, warm_at = me.memory_info().rss, start
        await ex.wait_for_completion()
        wall = time.perf_counter() - t0
        end_rss = me.memory_info().rss
        results = await ex.get_all_results()
    finally:
        await ex.stop(timeout=5)
    time.sleep(0.5)  # let the OS reap what stop killed
    orphans = [c for c in me.children(recursive=True) if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    rows = ex.record().tasks
    completed = rows[rows["status"] == "completed"].groupby("task_id", observed=True).size()
    terminal = set(s.value for s in sl.TaskStatus) - {"pending", "running"}
    not_one = sum(1 for r in results.values() if r.status.value not in terminal)
    warm_rss = warm_rss or end_rss
    return {"lost": n - len(results) + not_one, "duplicated": int((completed > 1).sum()), "orphans": len(orphans),
            "bytes_per_task": (end_rss - warm_rss) / max(1, n - warm_at), "rate": n / wall,
            "faults": sum(k != "ok" for k in kinds)}


def _in_fresh_interpreter(mode: str, n: int) -> dict[str, float]:
    """One mode's soak in an interpreter of its own, so that its memory figure is not
    moved by what an earlier mode's run left or gave back."""
    code = ("import asyncio, json; from benchmarks.soak import _soak; "
            f"print(json.dumps(asyncio.run(_soak({mode!r}, {n}, seed=7))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def soak(s: Settings) -> list[Row]:
    """Tasks through ASYNCIO, THREAD and PROCESS with 5 % injected faults of every kind."""
    rows = []
    for mode, full, quick in (("asyncio", 1_000_000, 20_000), ("thread", 1_000_000, 20_000),
                              ("process", 50_000, 2_000)):
        n = s.size(full, quick)
        m = _in_fresh_interpreter(mode, n)
        case = f"{mode}: {n:,} tasks, {m['faults']:,} faulty, {m['rate']:,.0f} tasks/s"
        rows.append(Row("soak", f"{case}: lost / not in one terminal state", m["lost"], None, "tasks", "0",
                        m["lost"] == 0))
        rows.append(Row("soak", f"{mode}: completed twice", m["duplicated"], None, "tasks", "0", m["duplicated"] == 0))
        rows.append(Row("soak", f"{mode}: processes left after stop", m["orphans"], None, "processes", "0",
                        m["orphans"] == 0))
        rows.append(Row("soak", f"{mode}: memory retained after warm-up (records kept)", m["bytes_per_task"], None,
                        "B/task", "(information)", None))
    return rows
