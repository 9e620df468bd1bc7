"""The ``swarmlab`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import workloads
from .errors import ConfigError, SwarmlabError
from .model import ExecutionMode
from .scheduling import SchedulingAlgorithm, policy_names, resolve_policy

__all__ = ["main"]

_REAL_MODES = [m.value for m in ExecutionMode if m is not ExecutionMode.DASK]
_ALGORITHMS = [a.value for a in SchedulingAlgorithm]


def _choices(allowed: list[str], what: str):
    def parse(text: str) -> list[str]:
        items = allowed if text == "all" else [x for x in text.split(",") if x]
        bad = [x for x in items if x not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"unknown {what} {bad}; choose from {','.join(allowed)} or all")
        return items
    return parse


def _algorithms(text: str) -> list[str]:
    """Registered names, 'module:Class' (importable from the current folder too), or 'all'."""
    items = list(_ALGORITHMS) if text == "all" else [x for x in text.split(",") if x]
    if not items:
        raise argparse.ArgumentTypeError(f"give at least one algorithm; choose from {','.join(policy_names())}, "
                                         "module:Class or all")
    known = policy_names()
    bad = [x for x in items if ":" not in x and x not in known]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown algorithms {bad}; choose from {','.join(known)}, "
                                         "module:Class (a swarmlab.Policy of yours) or all")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # 'module:Class' from the folder the command runs in
    for x in items:
        try:
            resolve_policy(x)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(f"{x!r}: {e}") from None
    return items


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return n


def _fraction(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = -1.0
    if not x >= 0:
        raise argparse.ArgumentTypeError(f"must be a fraction >= 0 (0.10 = 10%); got {text!r}")
    return x


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare the algorithms on a workload; save runs, summary CSV and a PNG."""
    from .compare import compare
    from .store import RunStore

    baseline = _read_baseline(args.against) if args.against else None  # before the runs: fail fast
    out = Path(args.out)
    store = RunStore(out / "runs")
    wl = workloads.make(args.workload, args.tasks, seed=args.seed)
    print(f"comparing {len(args.algorithms)} algorithms{' (+ each with stealing)' if args.add_stealing else ''} x {','.join(args.modes)} x {args.repeats} repeats on "
          f"{wl.name} ({wl.n} tasks, {len(wl.agents)} agents)" + (" + virtual time" if args.simulate else ""),
          file=sys.stderr)
    result = compare(wl, algorithms=args.algorithms, modes=args.modes, repeats=args.repeats,
                     simulate=args.simulate, seed=args.seed, store=store, progress=True,
                     add_stealing=args.add_stealing)
    for rec in result.runs:
        if rec.meta.get("baseline"):
            store.save(rec)
    stamp = _stamp()
    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"compare-{stamp}.csv"
    result.summary.to_csv(csv, index=False)
    result.per_run.to_csv(out / f"compare-{stamp}-runs.csv", index=False)
    png = _save_png(result.summary, out / f"compare-{stamp}.png")
    for metric in ("makespan_s", "throughput_tps", "efficiency"):
        print(f"\n{metric} (mean [95% CI] over {args.repeats} repeats)")
        print(result.table(metric).to_string())
    print(f"\nsaved: {csv}" + (f", {png}" if png else "") + f" and {len(result.runs)} runs in {store.path}")
    return _gate(result.summary, baseline, args.against, args.tolerance) if baseline is not None else 0


def _read_baseline(against: str):
    import pandas as pd

    path = Path(against)
    if not path.is_file():
        raise ConfigError(f"--against {against}: no such file; give a compare-*.csv an earlier compare wrote")
    return pd.read_csv(path)


def _gate(summary, baseline, against: str, tolerance: float) -> int:
    """The regression gate: 1 when a throughput or makespan got worse than in the
    ``against`` summary beyond ``tolerance`` and beyond both 95 % intervals, else 0."""
    from .compare import regressions

    reg = regressions(summary, baseline, tolerance=tolerance)
    shown = reg.assign(change=reg["change"].map(lambda c: f"{c:+.1%}"))
    print(f"\nagainst {against} (tolerance {tolerance:.0%}):")
    print(shown[["algorithm", "mode", "metric", "base_mean", "mean", "change", "regressed"]].to_string(
        index=False, float_format=lambda x: f"{x:.4g}"))
    bad = reg[reg["regressed"]]
    if bad.empty:
        print("no regression")
        return 0
    print(f"REGRESSED: {len(bad)} of {len(reg)} figures", file=sys.stderr)
    return 1


def _save_png(summary, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no PNG: matplotlib is not installed)", file=sys.stderr)
        return None
    from .plots import compare as plot_compare

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    plot_compare(summary, "makespan_s", ax=axes[0])
    plot_compare(summary, "throughput_tps", ax=axes[1])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a workload on virtual time under the chosen algorithms."""
    from .analysis import summary
    from .scheduling import TaskScheduler
    from .simulate import simulate

    wl = workloads.make(args.workload, args.tasks, seed=args.seed)
    runs = [(a, False) for a in args.algorithms]
    if args.add_stealing:
        runs = [(a, s) for a in args.algorithms for s in (False, True)
                if not (s and TaskScheduler(a).enable_work_stealing)]
    recs = []
    for a, steal in runs:
        rec = simulate(wl.tasks(), wl.agents, scheduler=TaskScheduler(a, enable_work_stealing=steal or None),
                       seed=args.seed)
        if steal:
            rec.meta["algorithm"] = f"{rec.meta['algorithm']}+stealing"
        recs.append(rec)
    cols = ["algorithm", "tasks", "completed", "makespan_s", "efficiency", "imbalance", "p95_wait_s", "stolen"]
    print(summary(recs)[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .store import RunStore

    store = RunStore(args.store)
    if args.action == "list":
        print(store.list().to_string(index=False))
    elif args.action == "show":
        from .analysis import summary

        rec = store.load(args.run_id)
        print(rec)
        print(summary([rec]).T.to_string(header=False))
    else:
        print(store.export(args.run_id, args.format, args.dest))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Finish a journaled run that was killed."""
    from .analysis import summary
    from .resume import resume
    from .store import RunStore

    rec = resume(args.run_id, RunStore(args.store))
    print(f"resumed {rec.run_id}: {rec.meta['kept_tasks']} completed tasks kept, {rec.meta['resumed_tasks']} run again")
    cols = ["tasks", "completed", "failed", "cancelled", "makespan_s"]
    print(summary([rec])[cols].to_string(index=False))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the live dashboard of a run store (Voila) until Ctrl-C."""
    from .serve import dashboard_app

    app = dashboard_app(args.store, host=args.host, port=args.port,
                        on_ready=lambda url: print(f"swarmlab dashboard of {args.store}: {url}", flush=True))
    app.start()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarmlab", description="Run, measure and compare parallel task execution.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compare", help="compare the scheduling algorithms on a workload (the main job)")
    c.add_argument("--workload", choices=sorted(workloads.WORKLOADS), default="mixed")
    c.add_argument("--tasks", type=_positive_int, default=120, help="number of tasks (default 120)")
    c.add_argument("--algorithms", type=_algorithms, default=_ALGORITHMS,
                   help="comma-separated names or module:Class (your own Policy), or 'all' (default): "
                   + ",".join(_ALGORITHMS) + "; each runs as itself (only work_stealing steals)")
    c.add_argument("--add-stealing", action="store_true",
                   help="also run each algorithm that does not steal with work stealing on ('<name>+stealing')")
    c.add_argument("--mode", dest="modes", type=_choices(_REAL_MODES, "modes"), default=["hybrid"],
                   help="execution mode(s), comma-separated from " + ",".join(_REAL_MODES) + " (default hybrid)")
    c.add_argument("--repeats", type=_positive_int, default=3, help="runs per algorithm and mode (default 3)")
    c.add_argument("--simulate", action="store_true", help="also run every algorithm on virtual time")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", default="data", help="results folder (default: data)")
    c.add_argument("--against", metavar="CSV", help="an earlier compare-*.csv: exit 1 when throughput or "
                   "makespan got worse beyond --tolerance and beyond both 95%% intervals")
    c.add_argument("--tolerance", type=_fraction, default=0.10, help="allowed change before it counts "
                   "(fraction; default 0.10)")
    c.set_defaults(func=cmd_compare)

    s = sub.add_parser("simulate", help="run a workload on virtual time under the algorithms")
    s.add_argument("--workload", choices=sorted(workloads.WORKLOADS), default="heavy_tailed")
    s.add_argument("--tasks", type=_positive_int, default=10_000)
    s.add_argument("--algorithms", type=_algorithms, default=_ALGORITHMS,
                   help="comma-separated names or module:Class, or 'all' (default)")
    s.add_argument("--add-stealing", action="store_true",
                   help="also run each algorithm that does not steal with work stealing on")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_simulate)

    res = sub.add_parser("resume", help="finish a run that was killed (its journal says what is left)")
    res.add_argument("run_id")
    res.add_argument("--store", default="data/runs", help="the run store folder (default data/runs)")
    res.set_defaults(func=cmd_resume)

    r = sub.add_parser("runs", help="list, show or export saved runs")
    r.add_argument("--store", default="data/runs", help="the run store folder (default data/runs)")
    rs = r.add_subparsers(dest="action", required=True)
    rs.add_parser("list", help="one line per saved run")
    show = rs.add_parser("show", help="a run's summary")
    show.add_argument("run_id")
    ex = rs.add_parser("export", help="copy a run's frames as CSV or Parquet")
    ex.add_argument("run_id")
    ex.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ex.add_argument("--dest", default="data/export")
    r.set_defaults(func=cmd_runs)

    d = sub.add_parser("dashboard", help="serve a live web page of the store's runs "
                       "(pip install 'swarmlab[dashboard]')")
    d.add_argument("--store", default="data/runs", help="the run store folder (default data/runs)")
    d.add_argument("--port", type=_positive_int, default=8866, help="port (default 8866, or the next free one)")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    d.set_defaults(func=cmd_dashboard)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the library's warnings (a damaged journal skipped on resume, say) reach the terminal
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    try:
        return args.func(args)
    except SwarmlabError as e:
        print(f"swarmlab: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
