"""Command line: run the selected benchmarks, print a Markdown table per benchmark.

Exits 0 even when targets are missed (the machine is noisy), 1 when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import traceback
from pathlib import Path
from typing import Any

from ._harness import Row, Settings, Stopwatch, render_table
from .core import BENCHMARKS as CORE
from .dashboard import follow_rate, stop_latency
from .dask_bench import dask_overhead
from .llm_fidelity import llm_swarm_fidelity
from .orchestration import orchestration_overhead
from .percall import acquire_overhead
from .resources import gpu_and_scaling, sampler_cost
from .scheduling import decision_rate, scheduling_quality
from .simulation import analysis_cost, replay_fidelity, sim_rate
from .soak import long_run_memory, soak
from .workflows import learned_gap, workflow_quality

BENCHMARKS = {**CORE, "decision_rate": decision_rate, "scheduling_quality": scheduling_quality,
              "sampler_cost": sampler_cost, "gpu_and_scaling": gpu_and_scaling,
              "orchestration_overhead": orchestration_overhead, "sim_rate": sim_rate,
              "analysis_cost": analysis_cost,
              "llm_swarm_fidelity": llm_swarm_fidelity, "acquire_overhead": acquire_overhead,
              "replay_fidelity": replay_fidelity, "dask_overhead": dask_overhead, "soak": soak,
              "long_run_memory": long_run_memory,
              "workflow_quality": workflow_quality, "learned_gap": learned_gap, "follow_rate": follow_rate,
              "stop_latency": stop_latency}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark swarmlab against raw baselines measured in the same run.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true",
                        help="shrink every size (the whole set in well under a minute)")
    parser.add_argument("--reps", type=int, default=None,
                        help="repetitions per figure; the median is reported (default 3, 2 with --quick)")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: write null instead."""
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _report(settings: Settings, rows: list[Row], crashed: list[str],
            seconds: dict[str, float]) -> dict[str, Any]:
    """Everything the run found, ready for ``json.dumps``."""
    return {
        "settings": dataclasses.asdict(settings),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count()},
        "seconds": seconds,
        "rows": [{k: _finite(v) for k, v in dataclasses.asdict(r).items()} for r in rows],
        "missed": [r.summary() for r in rows if r.met is False],
        "crashed": crashed,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(quick=args.quick, reps=args.reps or (2 if args.quick else 3))
    rows: list[Row] = []
    crashed: list[str] = []
    seconds: dict[str, float] = {}
    for name in args.names or list(BENCHMARKS):
        try:
            with Stopwatch() as sw:
                got = BENCHMARKS[name](settings)
        except Exception:
            traceback.print_exc()
            print(f"\n### {name}\n\nCRASHED (traceback above)\n", flush=True)
            crashed.append(name)
            continue
        seconds[name] = sw.elapsed
        rows.extend(got)
        print(render_table(f"{name} ({sw.elapsed:.1f} s)", got) + "\n", flush=True)
    report = _report(settings, rows, crashed, seconds)
    if args.quick:
        print("Quick sizes: the targets are set for the full sizes, so misses here are "
              "information, not verdicts.")
    if report["missed"]:
        print("Missed targets:" + "".join(f"\n- {m}" for m in report["missed"]))
    else:
        print("All targets met" + (" (by the benchmarks that ran)" if crashed else ""))
    if crashed:
        print("Crashed: " + ", ".join(crashed))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
