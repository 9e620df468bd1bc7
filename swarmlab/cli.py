"""The ``swarmlab`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import workloads
from .executor import ParallelExecutor
from .model import ExecutionMode, ResourceLimits
from .records import RunRecord
from .simulate import simulate

__all__ = ["main"]

_REAL_MODES = [m.value for m in ExecutionMode if m is not ExecutionMode.DASK]


async def _run_real(mode: str, tasks, limits: ResourceLimits, seed: int) -> RunRecord:
    async with ParallelExecutor(mode=mode, limits=limits, seed=seed) as ex:
        await ex.submit_batch(tasks)
    return ex.record()


def compare(args: argparse.Namespace) -> int:
    """Run one workload in every chosen mode and on virtual time; save and summarise."""
    from .analysis import summary
    from .store import save_run

    limits = ResourceLimits(max_concurrent_tasks=args.concurrency, max_queue_size=max(1000, args.tasks),
                            task_timeout=args.timeout)
    records = []
    for mode in args.modes:
        if mode == "simulated":
            tasks = workloads.make(args.workload, args.tasks, seed=args.seed)
            rec = simulate(tasks, limits=limits, seed=args.seed)
        else:
            style = "async" if mode == "asyncio" else "sync"
            tasks = workloads.make(args.workload, args.tasks, seed=args.seed, style=style)
            rec = asyncio.run(_run_real(mode, tasks, limits, args.seed))
        rec.meta["workload"] = args.workload
        records.append(rec)
        print(f"{mode:>10}: run {rec.run_id} done", file=sys.stderr)
    out = Path(args.out)
    for rec in records:
        save_run(rec, out / "runs", csv=args.csv)
    table = summary(records)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"compare-{stamp}.csv"
    table.to_csv(path, index=False)
    cols = ["mode", "tasks", "completed", "failed", "timed_out", "makespan_s",
            "throughput_tps", "mean_wait_s", "utilization"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\nsaved: {path} and {len(records)} runs under {out / 'runs'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmlab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run a built-in workload in every execution mode and on virtual time")
    c.add_argument("--workload", choices=sorted(workloads.WORKLOADS), default="mixed")
    c.add_argument("--tasks", type=int, default=120, help="number of tasks (default 120)")
    c.add_argument("--concurrency", type=int, default=8, help="max concurrent tasks (default 8)")
    c.add_argument("--timeout", type=float, default=60.0, help="per-task timeout in seconds")
    c.add_argument("--modes", type=lambda s: s.split(","), default=_REAL_MODES + ["simulated"],
                   help="comma-separated, from: " + ",".join(_REAL_MODES + ["simulated"]))
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="data", help="results folder (default: data)")
    c.add_argument("--csv", action="store_true", help="also write CSV next to Parquet")
    c.set_defaults(func=compare)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compare":
        bad = [m for m in args.modes if m not in _REAL_MODES + ["simulated"]]
        if bad:
            parser.error(f"--modes: unknown {bad}; choose from {','.join(_REAL_MODES + ['simulated'])}")
        if args.tasks < 1 or args.concurrency < 1:
            parser.error("--tasks and --concurrency must be positive")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
