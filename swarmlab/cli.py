"""The ``swarmlab`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import workloads
from .executor import ParallelExecutor
from .model import Agent, ExecutionMode, ResourceLimits
from .records import RunRecord
from .scheduling import SchedulingAlgorithm, TaskScheduler
from .simulate import simulate

__all__ = ["main"]

_MODES = [m.value for m in ExecutionMode if m is not ExecutionMode.DASK] + ["simulated"]
_ALGORITHMS = [a.value for a in SchedulingAlgorithm]
_COLUMNS = ["algorithm", "mode", "completed", "failed", "makespan_s", "throughput_tps",
            "efficiency", "imbalance", "p95_wait_s", "stolen"]


async def _run_real(mode: str, tasks, agents: list[Agent], scheduler: TaskScheduler,
                    limits: ResourceLimits, seed: int) -> RunRecord:
    async with ParallelExecutor(mode=mode, limits=limits, agents=agents, scheduler=scheduler, seed=seed) as ex:
        await ex.submit_batch(tasks)
    return ex.record()


def compare(args: argparse.Namespace) -> int:
    """Run one workload under every chosen algorithm and mode; save and summarise."""
    from .analysis import summary
    from .store import save_run

    limits = ResourceLimits(max_concurrent_tasks=args.agents, max_queue_size=max(1000, args.tasks),
                            task_timeout=args.timeout)
    agents = workloads.agent_pool(args.agents)
    caps = workloads.pool_capabilities(agents)
    records = []
    for algorithm in args.algorithms:
        for mode in args.modes:
            style = "async" if mode == "asyncio" else "sync"
            tasks = workloads.make(args.workload, args.tasks, seed=args.seed, style=style, capabilities=caps)
            scheduler = TaskScheduler(algorithm)
            if mode == "simulated":
                rec = simulate(tasks, agents, scheduler=scheduler, limits=limits, seed=args.seed)
            else:
                rec = asyncio.run(_run_real(mode, tasks, agents, scheduler, limits, args.seed))
            rec.meta["workload"] = args.workload
            records.append(rec)
            print(f"{algorithm:>16} {mode:>9}: run {rec.run_id} done", file=sys.stderr)
    out = Path(args.out)
    for rec in records:
        save_run(rec, out / "runs", csv=args.csv)
    table = summary(records)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"compare-{stamp}.csv"
    table.to_csv(path, index=False)
    print(table[_COLUMNS].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\nsaved: {path} and {len(records)} runs under {out / 'runs'}")
    return 0


def _choices(allowed: list[str], what: str):
    def parse(text: str) -> list[str]:
        items = allowed if text == "all" else [x for x in text.split(",") if x]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"unknown {what} {bad}; choose from {','.join(allowed)} or all")
        return items
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmlab", description="Run, measure and compare parallel task execution.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="compare scheduling algorithms on a built-in workload (local executor)")
    c.add_argument("--algorithms", type=_choices(_ALGORITHMS, "algorithms"), default=_ALGORITHMS,
                   help="comma-separated or 'all' (default): " + ",".join(_ALGORITHMS))
    c.add_argument("--modes", type=_choices(_MODES, "modes"), default=["hybrid", "simulated"],
                   help="comma-separated from " + ",".join(_MODES) + " (default: hybrid,simulated)")
    c.add_argument("--workload", choices=sorted(workloads.WORKLOADS), default="mixed")
    c.add_argument("--tasks", type=int, default=120, help="number of tasks (default 120)")
    c.add_argument("--agents", type=int, default=8, help="agents in the pool, one task each at a time (default 8)")
    c.add_argument("--timeout", type=float, default=60.0, help="per-task timeout in seconds")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="data", help="results folder (default: data)")
    c.add_argument("--csv", action="store_true", help="also write CSV next to Parquet")
    c.set_defaults(func=compare)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compare" and (args.tasks < 1 or args.agents < 1):
        parser.error("--tasks and --agents must be positive")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
