"""The ``swarmlab`` command line.

It says no before it works: a bad flag, value, ``--out`` or ``--against`` gets one line
and exit code 2 before anything runs. A closed pipe (``swarmlab runs list | head -1``)
ends it quietly; Ctrl-C says which run is journaled and how to finish it (exit code 130).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from .. import __version__, backends
from ..errors import ConfigError, SwarmlabError
from ..model import ExecutionMode, ResourceLimits, parse_limits
from ..scheduling import SchedulingAlgorithm, policy_names, resolve_policy
from ..workloads import recipes as workloads

__all__ = ["main", "build_parser"]

# The registry's modes; DASK needs a cluster, which the command line does not start.
_REAL_MODES = [m for m in backends.names() if m != ExecutionMode.DASK.value]
_ALGORITHMS = [a.value for a in SchedulingAlgorithm]
#: The metrics whose verdicts the main job prints in words (throughput mirrors makespan;
#: every metric's verdicts go to the -verdicts.csv).
_HEADLINE = ("makespan_s",)
#: Reported metrics shown first, in this order, when the bodies reported them (an agent
#: swarm's 429s, tokens and cost); the others reported follow.
_REPORTED_SHOWN = ("rate_limited", "tokens", "cost_usd", "limit_wait_s")
#: Reported metrics left to the CSVs: ``n_rate_limited`` is already inside ``rate_limited``.
_REPORTED_HIDDEN = ("n_rate_limited",)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
    items = list(_ALGORITHMS) if text == "all" else [x.strip() for x in text.split(",") if x.strip()]
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


def _port(text: str) -> int:
    n = _positive_int(text)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1 to 65535; got {text!r}")
    return n


def _repeats(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto'; got {text!r}") from None


def _at_least_0(what: str, hint: str = ""):
    """A parser of numbers >= 0; ``what`` (and ``hint``) say which kind in the error."""
    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            x = -1.0
        if not x >= 0:
            raise argparse.ArgumentTypeError(f"must be {what} >= 0{hint}; got {text!r}")
        return x
    return parse


def _limit(flag: str, kind: str, form: str):
    """A parser of one ``--pool`` (``kind="pool"``) or ``--rate`` item, or of one
    ``--task-resources`` need (``kind="need"``: NAME=N like a pool), by
    :func:`swarmlab.model.parse_limits`: ``(name, units)`` or ``(name, RateLimit)``."""
    def parse(text: str):
        try:
            pools, rates = parse_limits(text, flag)
        except ConfigError:
            raise argparse.ArgumentTypeError(f"expects {form}, with numbers > 0; got {text!r}") from None
        got = rates if kind == "rate" else pools
        if len(got) != 1 or len(pools) + len(rates) != 1:
            raise argparse.ArgumentTypeError(f"expects one {form}; got {text!r}")
        return next(iter(got.items()))
    return parse


_pool = _limit("--pool", "pool", "NAME=N (a pool of N units shared by the agents, e.g. llm=8)")
_rate = _limit("--rate", "rate", "NAME=N/S (N units per S seconds, e.g. rpm=120/60)")
_budget = _limit("--budget", "pool", "NAME=N (the most the bodies may report of NAME in all, e.g. cost_usd=5)")
_need = _limit("--task-resources", "need", "NAME=N (each task needs N units of a --pool or --rate NAME, e.g. llm=1)")


def _limits_of(args: argparse.Namespace, wl):
    """The pools, rates and budgets of ``--pool``/``--rate``/``--budget`` as ResourceLimits
    (None without any), checked against ``--task-resources``: each need names one of them,
    each of them is needed (a limit no task needs would limit nothing) unless the
    workload's own tasks ask for it (``Workload.limits``: llm_swarm's calls)."""
    pools, rates, needs = dict(args.pool or ()), dict(args.rate or ()), dict(args.task_resources or ())
    budgets = dict(args.budget or ())
    own = set(wl.limits.pools) | set(wl.limits.rates) if wl.limits is not None else set()
    both = sorted(set(pools) & set(rates))
    if both:
        raise ConfigError(f"--pool and --rate both name {both}; give each name once")
    unknown = sorted(set(needs) - set(pools) - set(rates))
    if unknown:
        raise ConfigError(f"--task-resources names {unknown}, which no --pool or --rate gives "
                          f"(they give {sorted(pools) + sorted(rates) or 'nothing'}); add --pool NAME=N or --rate NAME=N/S")
    idle = sorted((set(pools) | set(rates)) - set(needs) - own)
    if idle:
        raise ConfigError(f"--pool/--rate {idle} limits nothing: no task needs it; add --task-resources "
                          f"{idle[0]}=1 (each task needs 1 unit)")
    if not (needs or budgets or pools or rates):
        return None, needs
    return ResourceLimits(max_queue_size=max(1000, wl.n), max_cpu_percent=None, max_memory_mb=None, pools=pools,
                          rates=rates, budgets=budgets), needs


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", action="append", type=_pool, metavar="NAME=N",
                        help="a pool of N units shared by the agents (repeatable; e.g. llm=8: eight requests at once; "
                        "default: none)")
    parser.add_argument("--rate", action="append", type=_rate, metavar="NAME=N/S",
                        help="a rate: a token bucket of N units refilled every S seconds (repeatable; e.g. rpm=120/60; "
                        "default: none)")
    parser.add_argument("--budget", action="append", type=_budget, metavar="NAME=N",
                        help="the most the run's task bodies may report of NAME in all (repeatable; e.g. cost_usd=5: "
                        "once reached, nothing new starts; default: none)")
    parser.add_argument("--task-resources", action="append", type=_need, metavar="NAME=N",
                        help="each task of the workload needs N units of the --pool or --rate NAME (repeatable; "
                        "default: none)")


_fraction = _at_least_0("a fraction", " (0.10 = 10%)")
_seconds = _at_least_0("seconds")


def _writable(out: Path) -> Path:
    """``out``, created if need be, once a file could be written in it."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write there ({e.strerror or e}); give a folder you can write to") \
            from None
    return out


def _read_against(against: str, labels: list[str], modes: list[str]):
    """The earlier summary of ``--against``, checked before anything runs: a comparison
    summary, sharing a set-up and mode with this comparison."""
    import pandas as pd

    from ..experiments.comparison import METRICS

    path = Path(against)
    if not path.is_file():
        raise ConfigError(f"--against {against}: no such file; give a compare-*.csv an earlier compare wrote")
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"--against {against} is not a CSV file ({first}); give a compare-*.csv an earlier "
                          "compare wrote") from None
    need = ["algorithm", "mode", "metric", "mean", "ci_low", "ci_high"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ConfigError(f"--against {against} is not a comparison summary (no {', '.join(missing)} column); give "
                          "the compare-STAMP.csv an earlier compare wrote, not its -runs.csv")
    # a comparison's reported metrics (tokens, cost_usd) are named by its bodies: only the
    # built-in ones can say the file is a comparison summary
    known = set(frame["metric"].astype(str)) & set(METRICS)
    numbers = pd.to_numeric(frame["mean"], errors="coerce")
    if not known or numbers.isna().all():
        what = f"none of the metrics {', '.join(METRICS)}" if not known else "no numeric mean"
        raise ConfigError(f"--against {against} is not a comparison summary ({what}); give a compare-*.csv an "
                          "earlier compare wrote")
    shared = set(zip(frame["algorithm"].astype(str), frame["mode"].astype(str))) & {(a, m) for a in labels for m in modes}
    if not shared:
        have = sorted(set(frame["algorithm"].astype(str)))
        raise ConfigError(f"--against {against} shares no set-up and mode with this comparison (it has {have} in "
                          f"{sorted(set(frame['mode'].astype(str)))}); compare like with like")
    return frame


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare the algorithms on a workload; save runs, summary CSV and a PNG."""
    from ..experiments.comparison import compare, setups
    from ..store.comparisons import new_comparison_id
    from ..store.runs import RunStore

    modes = list(args.modes) + (["simulated"] if args.simulate else [])
    labels = [s.label for s in setups(args.algorithms, args.add_stealing)]
    baseline = _read_against(args.against, labels, modes) if args.against else None  # before the runs: fail fast
    out = _writable(Path(args.out))
    store = RunStore(out / "runs")
    cid = new_comparison_id()
    args.interrupted = lambda: _interrupted_compare(store, cid)
    wl = workloads.make(args.workload, args.tasks, seed=args.seed)
    limits, needs = _limits_of(args, wl)
    wl = workloads.needing(wl, needs)
    reps = (f"repeats until intervals are narrower than {args.rel_width:.0%} of the mean (budget {args.budget_s:g} s)"
            if args.repeats == "auto" else f"{args.repeats} repeats")
    print(f"comparison {cid}: if it is cut short, `{_finish(cid, store)}` finishes it", file=sys.stderr, flush=True)
    print(f"comparing {len(labels)} set-ups x {','.join(args.modes)} x {reps} on {wl.name} ({wl.n} tasks, "
          f"{len(wl.agents)} agents)" + (" + virtual time" if args.simulate else "")
          + ("; a warm-up run each" if not args.no_warmup else "") + "; order shuffled with the seed"
          + (f"; limits {_describe(limits)}" if limits else ""), file=sys.stderr)
    result = compare(wl, algorithms=args.algorithms, modes=args.modes, repeats=args.repeats, limits=limits,
                     simulate=args.simulate, seed=args.seed, store=store, progress=True,
                     add_stealing=args.add_stealing, warmup=not args.no_warmup, baseline=not args.no_baseline,
                     rel_width=args.rel_width, budget_s=args.budget_s, out=out, comparison_id=cid)
    _show(result, store, auto=args.repeats == "auto")
    return _gate(result.summary, baseline, args.against, args.tolerance) if baseline is not None else 0


def _finish(cid: str, store) -> str:
    """The command that finishes the comparison ``cid`` of ``store``."""
    from ..store.comparisons import ComparisonFolder

    return ComparisonFolder(store.path, cid).resume_command


def _show(result, store, auto: bool) -> None:
    """What ``compare`` (and the ``resume`` of a comparison) prints: the tables, the
    verdicts and the files written (:meth:`Comparison.save`)."""
    n = result.meta["repeats"]
    reported = [m for m in _REPORTED_SHOWN if m in result.reported] + \
        [m for m in result.reported if m not in _REPORTED_SHOWN and m not in _REPORTED_HIDDEN]
    for metric in ("makespan_s", "throughput_tps", "efficiency", *reported):
        print(f"\n{metric} (mean [95% CI] over {n} repeats)")
        print(result.table(metric).to_string())
    why = f"; {result.meta['stopped']}" if auto else ""
    what = ", ".join(["makespan", *reported])
    print(f"\nverdicts on {what}, the best set-up against each other ({n} repeats{why}; Welch t tests on log "
          "values, Holm-corrected; 95 % intervals):")
    for line in result.report([*_HEADLINE, *reported]):
        print(f"  {line}")
    stops = _budget_stops(result.runs)
    if stops:
        print(f"\n{stops}")
    files = result.meta.get("files") or {}
    if "png" not in files:
        print("(no PNG: matplotlib is not installed)", file=sys.stderr)
    print(f"\nsaved: {files.get('summary')} (summary), its -runs.csv (every run, in order) and -verdicts.csv "
          "(every metric)" + (f", {files['png']}" if "png" in files else "")
          + f"; {sum(r.meta.get('role') != 'warmup' for r in result.runs)} runs (all but the warm-ups) in {store.path}")


def _budget_stops(runs) -> str | None:
    """One line saying how many kept runs a budget stopped, and which budgets; None when
    none did."""
    stopped = [((r.meta.get("resources") or {}).get("budgets") or {}).get("stopped_by")
               for r in runs if r.meta.get("role") != "warmup"]
    hit = [b for b in stopped if b]
    if not hit:
        return None
    names = ", ".join(dict.fromkeys(hit))
    return (f"budget: {len(hit)} of {len(stopped)} runs were stopped by their {names} budget (what never started "
            "was cancelled): their makespans and totals cover less work; see each run's "
            "meta['resources']['budgets']")


def _interrupted_compare(store, cid: str) -> str:
    """What Ctrl-C says: the comparison, how far it got and the command that finishes it."""
    from ..store.comparisons import ComparisonFolder, done_keys

    folder = ComparisonFolder(store.path, cid)
    if not folder.exists:
        return f"interrupted before comparison {cid} made its first run; nothing to resume"
    plan = folder.plan()
    done, planned = len(done_keys(plan, folder.progress())), len(plan.get("runs", ()))
    return (f"interrupted: comparison {cid} is saved in {store.path} ({done} of {planned} runs done); finish it "
            f"with `{_finish(cid, store)}`")


def _gate(summary, baseline, against: str, tolerance: float) -> int:
    """The regression gate: 1 when a throughput or makespan got worse than in the
    ``against`` summary beyond ``tolerance`` and beyond both 95 % intervals, else 0."""
    from ..experiments.comparison import regressions

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


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a workload on virtual time under the chosen algorithms."""
    from tqdm.auto import tqdm

    from ..analysis.figures import name_bound, summary
    from ..analysis.limits import bound_note
    from ..experiments.comparison import setups
    from ..virtual.simulation import simulate

    wl = workloads.make(args.workload, args.tasks, seed=args.seed)
    limits, needs = _limits_of(args, wl)
    wl = workloads.needing(wl, needs)
    plan = setups(args.algorithms, args.add_stealing)
    recs = []
    with tqdm(plan, desc=f"simulate {wl.name} x {wl.n}", unit="run", file=sys.stderr) as bar:
        for setup in bar:
            bar.set_postfix_str(setup.label)
            rec = simulate(wl.tasks(), wl.agents, scheduler=setup.scheduler(), seed=args.seed,
                           limits=wl.limits_with(limits))
            rec.meta["algorithm"] = setup.label
            recs.append(rec)
    cols = ["algorithm", "tasks", "completed", "makespan_s", "efficiency", "imbalance", "p95_wait_s", "stolen"]
    table = summary(recs)
    if limits is not None:  # the bound and what binds it, named in each run's meta
        cols[4:4] = ["lower_bound_s", "bound_by"]
        table["bound_by"] = [name_bound(r)["bound_by"] for r in recs]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if limits is not None:
        print(f"\nlimits {_describe(limits)}")
        note = bound_note(recs[0].meta, table["bound_by"], table["lower_bound_s"])
        if note:
            print(note)
    return 0


def _describe(limits: ResourceLimits) -> str:
    """``"pool llm=8, rate rpm=120/60"``, as the flags wrote them."""
    return ", ".join([f"pool {k}={v:g}" for k, v in limits.pools.items()]
                     + [f"rate {k}={r.limit:g}/{r.per_s:g}" for k, r in limits.rates.items()]
                     + [f"budget {k}={v:g}" for k, v in limits.budgets.items()])


def _store(path: str):
    from ..store.runs import RunStore

    if not Path(path).is_dir():
        raise ConfigError(f"no run store at {path}: nothing was saved there (`swarmlab compare --out DIR` saves its "
                          "runs in DIR/runs); give --store")
    return RunStore(path)


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store(args.store)
    if args.action == "list":
        runs, cmps = store.list(), store.comparisons()
        print(runs.to_string(index=False) if len(runs) else f"no runs saved in {store.path}")
        if len(cmps):
            print("\ncomparisons (`swarmlab resume ID` finishes an interrupted one):")
            print(cmps.to_string(index=False))
    elif args.action == "show":
        from ..analysis.figures import summary

        rec = store.load(args.run_id)
        print(rec)
        print(summary([rec]).T.to_string(header=False))
    else:
        print(store.export(args.run_id, args.format, args.dest))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Finish a journaled run, or a comparison (``cmp-...``), that was killed."""
    from ..analysis.figures import summary
    from ..experiments.recovery import resume
    from ..store.comparisons import is_comparison_id

    store = _store(args.store)
    if is_comparison_id(args.run_id):
        return _resume_comparison(args, store)
    args.interrupted = lambda: (f"interrupted: run {args.run_id} is still journaled in {store.path}; "
                                f"`swarmlab resume {args.run_id} --store {store.path}` takes it up again")
    rec = resume(args.run_id, store, algorithms=args.algorithms or ())
    if rec.meta.get("saved_from_journal"):
        print(f"saved {rec.run_id} from its journal: it had ended ({rec.meta.get('status')}) but was not saved; "
              "nothing run again")
    else:
        print(f"resumed {rec.run_id}: {rec.meta['kept_tasks']} completed tasks kept, {rec.meta['resumed_tasks']} "
              "run again")
    cols = ["tasks", "completed", "failed", "cancelled", "makespan_s"]
    print(summary([rec])[cols].to_string(index=False))
    return 0


def _resume_comparison(args: argparse.Namespace, store) -> int:
    from ..experiments.plan import resume_comparison

    from ..store.comparisons import ComparisonFolder

    cid = args.run_id
    args.interrupted = lambda: _interrupted_compare(store, cid)
    if ComparisonFolder(store.path, cid).status() != "complete":  # a complete one: one line, from the error
            print(f"resuming comparison {cid}: if it is cut short again, `{_finish(cid, store)}` finishes it",
              file=sys.stderr, flush=True)
    result = resume_comparison(cid, store, algorithms=args.algorithms or (), progress=True)
    last = result.meta["resumed"][-1]
    redone = last["redone"]
    print(f"resumed comparison {cid}: {last.get('kept', 0)} finished runs kept, {redone} "
          f"{'run' if redone == 1 else 'runs'} cut by the kill run again whole")
    _show(result, store, auto=ComparisonFolder(store.path, cid).plan()["repeats"] == "auto")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the live dashboard of a run store (Voila) until Ctrl-C."""
    from .serve import dashboard_app

    if not Path(args.store).is_dir():  # served anyway: a dashboard is often started before the runs it follows
        print(f"swarmlab: no run store at {args.store} yet; the page lists its runs as they are saved there "
              "(`swarmlab compare --out DIR` saves them in DIR/runs)", file=sys.stderr, flush=True)
    app = dashboard_app(args.store, host=args.host, port=args.port,
                        on_ready=lambda url: print(f"swarmlab dashboard of {args.store}: {url}", flush=True))
    app.start()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="swarmlab", description="Run, measure and compare parallel task execution.")
    p.add_argument("--version", action="version", version=f"swarmlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    wl = sorted(workloads.WORKLOADS)

    c = sub.add_parser("compare", help="compare the scheduling algorithms on a workload (the main job)")
    c.add_argument("--workload", choices=wl, default="mixed", help=f"one of {', '.join(wl)} (default mixed)")
    c.add_argument("--tasks", type=_positive_int, default=120, help="number of tasks (default 120)")
    c.add_argument("--algorithms", type=_algorithms, default=_ALGORITHMS,
                   help="comma-separated names or module:Class (your own Policy), or 'all' (default all: "
                   + ",".join(_ALGORITHMS) + "); each runs as itself (only work_stealing steals)")
    c.add_argument("--add-stealing", action="store_true",
                   help="also run each algorithm that does not steal with work stealing on ('<name>+stealing'; "
                   "default off)")
    c.add_argument("--mode", dest="modes", type=_choices(_REAL_MODES, "modes"), default=["hybrid"],
                   help="execution mode(s), comma-separated from " + ",".join(_REAL_MODES) + " (default hybrid)")
    c.add_argument("--repeats", type=_repeats, default=3,
                   help="measured runs per set-up and mode, or 'auto': repeat until every makespan and throughput "
                   "interval is narrower than --rel-width of its mean (default 3)")
    c.add_argument("--rel-width", type=_fraction, default=0.10,
                   help="with --repeats auto: the widest interval to stop at, a fraction of the mean (default 0.10)")
    c.add_argument("--budget-s", type=_seconds, default=600.0,
                   help="with --repeats auto: seconds after which no further round starts (default 600)")
    c.add_argument("--no-warmup", action="store_true",
                   help="skip the warm-up run per set-up that is left out of the figures (default: warm up)")
    c.add_argument("--no-baseline", action="store_true",
                   help="skip the sequential baseline run first and last (no speedup, no drift check; default: "
                   "run it)")
    c.add_argument("--simulate", action="store_true", help="also run every set-up on virtual time (default off)")
    _add_limits(c)
    c.add_argument("--seed", type=int, default=0, help="seeds the workload, the runs and their order (default 0)")
    c.add_argument("--out", default="data", help="results folder (default data)")
    c.add_argument("--against", metavar="CSV", help="an earlier compare-*.csv: exit 1 when throughput or "
                   "makespan got worse beyond --tolerance and beyond both 95%% intervals (default: no gate)")
    c.add_argument("--tolerance", type=_fraction, default=0.10, help="allowed change before it counts "
                   "(fraction; default 0.10)")
    c.set_defaults(func=cmd_compare)

    s = sub.add_parser("simulate", help="run a workload on virtual time under the algorithms")
    s.add_argument("--workload", choices=wl, default="heavy_tailed",
                   help=f"one of {', '.join(wl)} (default heavy_tailed)")
    s.add_argument("--tasks", type=_positive_int, default=10_000, help="number of tasks (default 10000)")
    s.add_argument("--algorithms", type=_algorithms, default=_ALGORITHMS,
                   help="comma-separated names or module:Class, or 'all' (default all: " + ",".join(_ALGORITHMS) + ")")
    s.add_argument("--add-stealing", action="store_true",
                   help="also run each algorithm that does not steal with work stealing on (default off)")
    _add_limits(s)
    s.add_argument("--seed", type=int, default=0, help="seeds the workload and the runs (default 0)")
    s.set_defaults(func=cmd_simulate)

    res = sub.add_parser("resume", help="finish a run or a comparison that was killed (the store says what is left)")
    res.add_argument("run_id", help="the run's id, or a comparison's (cmp-...), as `swarmlab runs list` shows it")
    res.add_argument("--store", default="data/runs", help="the run store folder (default data/runs)")
    res.add_argument("--algorithms", type=_algorithms, default=(),
                     help="the module:Class policies the run's journal names that you trust to import (a journal's "
                     "own are imported only from installed packages; default: none)")
    res.set_defaults(func=cmd_resume)

    r = sub.add_parser("runs", help="list, show or export saved runs")
    r.add_argument("--store", default="data/runs", help="the run store folder (default data/runs)")
    rs = r.add_subparsers(dest="action", required=True)
    ls = rs.add_parser("list", help="one line per saved run")
    show = rs.add_parser("show", help="a run's summary")
    show.add_argument("run_id", help="the run's id")
    ex = rs.add_parser("export", help="copy a run's frames as CSV or Parquet")
    ex.add_argument("run_id", help="the run's id")
    for action in (ls, show, ex):  # --store after the action too, as `resume RUN_ID --store` takes it
        action.add_argument("--store", default=argparse.SUPPRESS, help="the run store folder (default data/runs)")
    ex.add_argument("--format", choices=["csv", "parquet"], default="csv", help="csv or parquet (default csv)")
    ex.add_argument("--dest", default="data/export", help="the folder to copy to (default data/export)")
    r.set_defaults(func=cmd_runs)

    d = sub.add_parser("dashboard", help="serve a live web page of the store's runs "
                       "(pip install 'swarmlab[dashboard]')")
    d.add_argument("--store", default="data/runs", help="the run store folder (default data/runs)")
    d.add_argument("--port", type=_port, default=8866, help="port (default 8866, or the next free one)")
    d.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    d.set_defaults(func=cmd_dashboard)
    return p


def _quiet_stdout() -> None:
    """After a closed pipe: send what is left to /dev/null, so the interpreter's last
    flush cannot fail again on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the library's warnings (a damaged journal skipped on resume, say) reach the terminal
    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except SwarmlabError as e:
        print(f"swarmlab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        note = getattr(args, "interrupted", None)
        print(f"\nswarmlab: {note() if note else 'interrupted'}", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        _quiet_stdout()
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
