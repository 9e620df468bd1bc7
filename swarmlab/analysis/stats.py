"""The statistics of a comparison, from :mod:`scipy.stats`: intervals that respect each
metric's bounds, Welch tests with a multiple-comparison correction, the repeats a power
calculation asks for, verdicts in words and the drift check.

Every function takes the tidy per-run frame (one row per run, a ``role`` column saying
``"measured"``, ``"warmup"`` or ``"baseline"``) and returns a frame or plain numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.special import expit, logit

from ..errors import ConfigError

__all__ = ["MetricInfo", "METRIC_INFO", "VERDICT_METRICS", "reported_info", "BETTER", "Interval", "interval", "welch",
           "holm", "adjust", "repeats_needed", "verdicts", "describe_verdicts", "drift", "describe_drift", "measured",
           "DRIFT_TOLERANCE", "POWER", "MOST_REPEATS"]


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric is: its noun and unit for people, which way is better, the bounds
    its values live in (``None``: unbounded) and the words of a verdict (better, worse)."""

    noun: str
    unit: str
    better: str | None  # "lower", "higher", or None: neither is better
    bounds: tuple[float | None, float | None]
    words: tuple[str, str]

    @property
    def label(self) -> str:
        """The axis label: noun, unit and bounds, e.g. ``"makespan (s)"``."""
        if self.bounds == (0.0, 1.0):
            return f"{self.noun} (0 to 1)"
        return f"{self.noun} ({self.unit})" if self.unit else self.noun


_TIME = ("faster", "slower")
_SCORE = ("better", "worse")
_POSITIVE = (0.0, None)
_UNIT = (0.0, 1.0)

#: Every metric a comparison reports, per run, in the order of its frames.
METRIC_INFO: dict[str, MetricInfo] = {
    "makespan_s": MetricInfo("makespan", "s", "lower", _POSITIVE, _TIME),
    "throughput_tps": MetricInfo("throughput", "tasks/s", "higher", _POSITIVE, _TIME),
    "p50_wait_s": MetricInfo("median wait", "s", "lower", _POSITIVE, _TIME),
    "p95_wait_s": MetricInfo("p95 wait", "s", "lower", _POSITIVE, _TIME),
    "load_balance_score": MetricInfo("load balance score", "", "higher", _UNIT, _SCORE),
    "capability_match_score": MetricInfo("capability match score", "", "higher", _UNIT, _SCORE),
    "efficiency": MetricInfo("efficiency", "", "higher", _UNIT, _SCORE),
    "speedup": MetricInfo("speedup", "x sequential", "higher", _POSITIVE, _TIME),
    "stolen": MetricInfo("stolen tasks", "tasks", None, _POSITIVE, ("more", "fewer")),
}
#: The metrics given a verdict by default: every one where more or less is better.
VERDICT_METRICS = tuple(m for m, i in METRIC_INFO.items() if i.better is not None)

#: The directions a reported metric may be better in (``compare(better=...)``).
BETTER = ("lower", "higher")


def reported_info(name: str, better: str = "lower", nonnegative: bool = True) -> MetricInfo:
    """The :class:`MetricInfo` of a value bodies reported (``tokens``, ``cost_usd``) or of
    ``rate_limited``: named as reported (the name carries its unit), lower is better
    unless ``better="higher"``, bounded below by 0 when every value seen is
    (``nonnegative``: intervals on the log scale, as for times), unbounded otherwise."""
    if better not in BETTER:
        raise ConfigError(f"better for {name!r} must be one of {', '.join(map(repr, BETTER))}; got {better!r}")
    if name == "rate_limited":
        return MetricInfo("rate-limited calls", "", "lower", _POSITIVE, ("fewer", "more"))
    return MetricInfo(name, "", better, _POSITIVE if nonnegative else (None, None), _SCORE)


#: A power calculation asks for the repeats that find a difference 4 times in 5 (the
#: usual 80 % power), at the level the correction needs for the whole family.
POWER = 0.8
#: Past this many repeats per set-up a power calculation says "more than" instead.
MOST_REPEATS = 1000
#: The first and last baseline runs may differ by this share before the check says the
#: machine drifted: repeats of one set-up on a shared machine differ by a few percent.
DRIFT_TOLERANCE = 0.05
# Values closer than this share of their size count as equal (no spread): virtual time
# repeats agree exactly, float noise aside.
_SAME = 1e-9


def measured(per_run: pd.DataFrame) -> pd.DataFrame:
    """The rows the figures use: measured repeats (warm-ups and baselines left out)."""
    if "role" not in per_run.columns:
        return per_run
    return per_run[per_run["role"] == "measured"]


def _no_spread(x: np.ndarray) -> bool:
    return bool(np.ptp(x) <= _SAME * max(1.0, float(np.abs(x).max())))


@dataclass(frozen=True, slots=True)
class Interval:
    mean: float
    low: float
    high: float
    method: str


def interval(values: Sequence[float], bounds: tuple[float | None, float | None] = (None, None),
             confidence: float = 0.95) -> Interval:
    """The mean of ``values`` and its ``confidence`` interval, never outside ``bounds``.

    Student's t (``scipy.stats.t``) on a scale where the bounds cannot be crossed:
    log for values above a lower bound (``log-t``: the interval of the geometric mean, a
    ratio scale as timings are), logit for values strictly between two bounds
    (``logit-t``). Values on a bound (a wait of 0, a score of 1) get the t interval of
    the mean cut to the bounds (``t within bounds``: cutting keeps its coverage, since
    the true mean lies within them); without bounds, the plain t interval (``t``). One
    value: no interval (NaN); values that agree exactly (virtual time): the point.
    """
    x = np.asarray([float(v) for v in values], dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, "no value")
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, "one run")
    if _no_spread(x):
        return Interval(mean, mean, mean, "no spread")
    lo, hi = bounds
    above = lo is None or bool((x > lo).all())
    below = hi is None or bool((x < hi).all())
    if lo is not None and hi is not None and above and below:
        w = hi - lo
        z = logit((x - lo) / w)
        zl, zh = sps.t.interval(confidence, n - 1, loc=z.mean(), scale=sps.sem(z))
        return Interval(mean, float(lo + w * expit(zl)), float(lo + w * expit(zh)), "logit-t")
    if lo is not None and hi is None and above:
        z = np.log(x - lo)
        zl, zh = sps.t.interval(confidence, n - 1, loc=z.mean(), scale=sps.sem(z))
        with np.errstate(over="ignore"):  # a bound past the largest float is infinite, truly
            return Interval(mean, float(lo + np.exp(zl)), float(lo + np.exp(zh)), "log-t")
    tl, th = sps.t.interval(confidence, n - 1, loc=mean, scale=sps.sem(x))
    inside = (lo is None or mean >= lo) and (hi is None or mean <= hi)
    if not inside or (lo is None and hi is None):
        return Interval(mean, float(tl), float(th), "t")
    return Interval(mean, float(tl if lo is None else max(lo, tl)), float(th if hi is None else min(hi, th)),
                    "t within bounds")


@dataclass(frozen=True, slots=True)
class Welch:
    """``a`` against ``b``: the relative difference ``a / b - 1`` and its interval, the
    two-sided p-value, and on the test's scale the difference and each side's spread."""

    rel: float
    rel_low: float
    rel_high: float
    p: float
    diff: float
    sd: float
    sd_versus: float
    scale: str


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Welch:
    """Welch's t test (``scipy.stats.ttest_ind``, unequal variances: suited to a few
    repeats whose spreads differ) of ``a`` against ``b``, with its confidence interval.

    On the log scale when every value is positive (``scale="log"``): the relative
    difference is then the ratio of geometric means less 1, and its interval comes from
    the test's own, so it never reaches -100 %. Otherwise on the values themselves
    (``"raw"``), the interval of the difference over ``b``'s mean. Two sets without
    spread (virtual time) are told apart exactly (``"exact"``: p = 0 or 1).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return Welch(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, "too few")
    log = bool((a > 0).all() and (b > 0).all())
    xa, xb = (np.log(a), np.log(b)) if log else (a, b)
    diff = float(xa.mean() - xb.mean())
    sd, sdb = float(xa.std(ddof=1)), float(xb.std(ddof=1))
    if _no_spread(xa) and _no_spread(xb):
        same = abs(diff) <= _SAME * max(1.0, float(np.abs(xb).max()))
        p, lo, hi, scale = (1.0 if same else 0.0), diff, diff, "exact"
    else:
        with warnings.catch_warnings():  # one set without spread: the test stands on the other's
            warnings.filterwarnings("ignore", message="Precision loss", category=RuntimeWarning)
            res = sps.ttest_ind(xa, xb, equal_var=False)
        ci = res.confidence_interval(confidence)
        p, lo, hi, scale = float(res.pvalue), float(ci.low), float(ci.high), "log" if log else "raw"
    if log:
        return Welch(math.expm1(diff), math.expm1(lo), math.expm1(hi), p, diff, sd, sdb, scale)
    base = float(b.mean())
    if base == 0:
        return Welch(math.nan, math.nan, math.nan, p, diff, sd, sdb, scale)
    return Welch(diff / base, lo / base, hi / base, p, diff, sd, sdb, scale)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (the family-wise error stays at the level):
    the i-th smallest of m is multiplied by m - i + 1, then made non-decreasing."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    m = len(p)
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def adjust(p: Sequence[float], correction: str = "holm") -> np.ndarray:
    """Adjusted p-values for one family: ``"holm"`` (family-wise error),
    ``"bh"`` (Benjamini-Hochberg false discovery rate,
    ``scipy.stats.false_discovery_control``) or ``"none"``. NaN stays NaN and is not
    counted in the family."""
    if correction not in ("holm", "bh", "none"):
        raise ConfigError(f"correction must be one of 'holm', 'bh', 'none'; got {correction!r}")
    p = np.asarray(p, dtype=float)
    out = p.copy()
    ok = np.isfinite(p)
    if ok.any() and correction != "none":
        out[ok] = holm(p[ok]) if correction == "holm" else sps.false_discovery_control(p[ok], method="bh")
    return out


def repeats_needed(diff: float, sd: float, sd_versus: float | None = None, alpha: float = 0.05,
                   power: float = POWER, most: int = MOST_REPEATS) -> int | None:
    """Repeats per set-up for a two-sided Welch test at level ``alpha`` to find a true
    difference ``diff`` between means whose runs spread by ``sd`` and ``sd_versus`` (on
    the test's scale; the same by default) with probability ``power``: the noncentral t
    distribution (``scipy.stats.nct``) with Welch's degrees of freedom. None when no
    difference was seen (more repeats cannot separate equal means) or more than ``most``
    would be needed."""
    va, vb = sd * sd, (sd if sd_versus is None else sd_versus) ** 2
    if not (va + vb > 0 and math.isfinite(diff) and diff != 0):
        return None
    n = np.arange(2, most + 1)
    df = (n - 1) * (va + vb) ** 2 / (va * va + vb * vb)
    nc = abs(diff) / np.sqrt((va + vb) / n)
    crit = sps.t.ppf(1 - alpha / 2, df)
    # far in its lower tail scipy's nct gives NaN for what is ~0
    got = sps.nct.sf(crit, df, nc) + np.nan_to_num(sps.nct.cdf(-crit, df, nc), nan=0.0)
    hit = np.flatnonzero(got >= power)
    return int(n[hit[0]]) if len(hit) else None


def _pairs(labels: list[str], means: dict[str, float], better: str | None, against: str) -> list[tuple[str, str]]:
    sign = -1.0 if better == "lower" else 1.0

    def rank(label: str) -> tuple[float, int]:  # the better mean first; ties in set-up order
        m = means[label]
        return (-sign * m if m == m else math.inf, labels.index(label))

    if against == "best":
        best = min(labels, key=rank)
        return [(best, other) for other in labels if other != best]
    if against == "pairs":
        return [tuple(sorted(pair, key=rank)) for pair in combinations(labels, 2)]
    if against not in labels:
        raise ConfigError(f"against must be 'best', 'pairs' or one of the set-ups {labels}; got {against!r}")
    return [(other, against) for other in labels if other != against]


def verdicts(per_run: pd.DataFrame, *, by: Sequence[str] = ("mode",), label: str = "algorithm",
             metrics: Sequence[str] | None = None, against: str = "best", alpha: float = 0.05,
             correction: str = "holm", confidence: float = 0.95,
             info: Mapping[str, MetricInfo] | None = None) -> pd.DataFrame:
    """Per group of ``by``, metric and pair of set-ups (``label``), whether they differ.

    ``against``: ``"best"`` (the set-up with the best mean against each other one),
    ``"pairs"`` (every pair once, the better mean first) or a set-up's label (each
    other one against it). Each pair gets :func:`welch`'s relative difference with its
    interval and p-value; ``p_adjusted`` corrects the p-values of one metric in one group
    together (``correction``); ``significant`` is ``p_adjusted < alpha``. ``verdict``
    says what the first set-up is against the second: ``"faster"`` / ``"slower"`` (times,
    rates, speedup), ``"better"`` / ``"worse"`` (scores), ``"no significant
    difference"``, or ``"too few repeats"`` (a set-up with fewer than 2).
    ``repeats_needed``: for a pair not told apart, the repeats per set-up that would find
    the difference seen, with the spreads seen, 4 times in 5 (80 % power) at the
    family's level alpha / m (which Holm's correction never needs more than), and more
    than were made; empty when no difference was seen or more than 1,000 would be needed.
    ``info``: the metrics known, :data:`METRIC_INFO` by default (a comparison adds the
    values its bodies reported: :func:`reported_info`). A run without a value of a
    metric (NaN) is left out of that metric's figures.
    """
    infos = METRIC_INFO if info is None else info
    metrics = list([m for m, i in infos.items() if i.better is not None] if metrics is None else metrics)
    bad = [m for m in metrics if m not in infos]
    if bad or not metrics:
        raise ConfigError(f"metrics must be among {', '.join(infos)}; got {metrics!r}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1 (0.05 = 5 %); got {alpha!r}")
    adjust([], correction)  # a bad name is refused before any work
    rows_in = measured(per_run)
    missing = [c for c in (*by, label, *metrics) if c not in rows_in.columns]
    if missing:
        raise ConfigError(f"verdicts need the columns {missing} in the per-run frame; it has {list(rows_in.columns)}")
    cols = [*by, "metric", label, "versus", "n", "n_versus", "mean", "mean_versus", "rel_diff", "rel_ci_low",
            "rel_ci_high", "p_value", "p_adjusted", "significant", "verdict", "repeats_needed", "scale"]
    out: list[dict[str, object]] = []
    groups = rows_in.groupby(list(by), sort=True, observed=True) if by else [((), rows_in)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        seen = set(g[label].astype(str))
        order = g[label].cat.categories if isinstance(g[label].dtype, pd.CategoricalDtype) else g[label]
        labels = [x for x in dict.fromkeys(map(str, order)) if x in seen]  # planned order, else as they came
        for metric in metrics:
            mi = infos[metric]
            data = {x: g.loc[g[label].astype(str) == x, metric].astype(float).dropna().to_numpy() for x in labels}
            if not any(len(v) for v in data.values()):
                continue  # not measured here (speedup without a baseline): nothing to judge
            means = {x: float(v.mean()) if len(v) else math.nan for x, v in data.items()}
            family = []
            for a, b in _pairs(labels, means, mi.better, against):
                family.append((a, b, welch(data[a], data[b], confidence)))
            p_adj = adjust([w.p for _, _, w in family], correction)
            m = int(np.isfinite(p_adj).sum())
            for (a, b, w), pa in zip(family, p_adj):
                sig = bool(pa < alpha)
                if not math.isfinite(pa):
                    word = "too few repeats"
                elif not sig:
                    word = "no significant difference"
                else:
                    up = w.diff > 0
                    word = mi.words[0] if (up == (mi.better != "lower")) else mi.words[1]
                need = None
                if not sig and math.isfinite(pa):
                    need = repeats_needed(w.diff, w.sd, w.sd_versus, alpha / max(m, 1))
                    # these repeats did not tell them apart: fewer or as many is no answer
                    need = None if need is None else max(need, max(len(data[a]), len(data[b])) + 1)
                out.append({**dict(zip(by, key)), "metric": metric, label: a, "versus": b, "n": len(data[a]),
                            "n_versus": len(data[b]), "mean": means[a], "mean_versus": means[b], "rel_diff": w.rel,
                            "rel_ci_low": w.rel_low, "rel_ci_high": w.rel_high, "p_value": w.p, "p_adjusted": pa,
                            "significant": sig, "verdict": word, "repeats_needed": need, "scale": w.scale})
    frame = pd.DataFrame(out, columns=cols)
    frame["repeats_needed"] = frame["repeats_needed"].astype("Int64")
    return frame


def _pct(x: float) -> str:
    x = abs(x) * 100
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}" if x >= 1 else f"{x:.2g}"


def _span(lo: float, hi: float) -> str:
    """``"[24, 38] %"``, with more digits when the bounds would read the same."""
    a, b = _pct(lo), _pct(hi)
    if a == b:
        a, b = f"{abs(lo) * 100:.3g}", f"{abs(hi) * 100:.3g}"
    return f"[{a}, {b}] %"


def _repeats(n: int, n_versus: int) -> str:
    return f"{n} repeats" if n == n_versus else f"{n} and {n_versus} repeats"


def describe_verdicts(v: pd.DataFrame, *, label: str = "algorithm", by: Sequence[str] = ("mode",),
                      metrics: Sequence[str] | None = None,
                      info: Mapping[str, MetricInfo] | None = None) -> list[str]:
    """The verdicts in words, one line per pair: ``"work_stealing: makespan 31 % lower
    than round_robin [24, 38] %, significant (p = 0.002)"``, ``"least_loaded vs dynamic:
    no significant difference in makespan at 3 repeats (p = 0.41); about 12 repeats each
    would tell a 2.1 % difference apart"``. With several groups of ``by`` (modes), each
    line starts with its group."""
    rows = v if metrics is None else v[v["metric"].isin(list(metrics))]
    several = bool(by) and len(rows.drop_duplicates(list(by))) > 1
    infos = METRIC_INFO if info is None else info
    lines = []
    for r in rows.itertuples(index=False):
        r = r._asdict()
        info = infos[r["metric"]]
        where = "[" + ", ".join(str(r[k]) for k in by) + "] " if several else ""
        a, b = r[label], r["versus"]
        reps = _repeats(r["n"], r["n_versus"])
        if r["verdict"] == "too few repeats":
            lines.append(f"{where}{a} vs {b}: too few repeats to compare {info.noun} ({reps}; at least 2 each)")
        elif r["significant"]:
            rel = r["rel_diff"]
            lo, hi = sorted((abs(r["rel_ci_low"]), abs(r["rel_ci_high"])))
            if rel != rel:  # the reference's mean is 0: no relative difference
                what = f"{info.noun} {r['mean']:.3g} against {r['mean_versus']:.3g}"
                lines.append(f"{where}{a}: {what} of {b}, significant (p = {r['p_adjusted']:.2g})")
                continue
            ci = "" if r["scale"] == "exact" else " " + _span(lo, hi)
            # a reported value repeats exactly on real time too (a seeded provider's tokens)
            spread = "no spread on virtual time" if r["metric"] in METRIC_INFO else "every repeat gave the same value"
            p = f"exact: {spread}" if r["scale"] == "exact" else f"p = {r['p_adjusted']:.2g}"
            lines.append(f"{where}{a}: {info.noun} {_pct(rel)} % {'lower' if rel < 0 else 'higher'} than {b}{ci}, "
                         f"significant ({p})")
        else:
            text = f"{where}{a} vs {b}: no significant difference in {info.noun} at {reps}"
            if r["scale"] == "exact":
                lines.append(text + " (they agree exactly)")
                continue
            text += f" (p = {r['p_adjusted']:.2g})"
            need, rel = r["repeats_needed"], r["rel_diff"]
            size = f"a {_pct(rel)} % difference" if rel == rel else "this difference"
            if r["rel_diff"] == 0 or r["mean"] == r["mean_versus"]:
                text += "; the means agree, so more repeats would not separate them"
            elif need is pd.NA or need is None:
                text += f"; more than {MOST_REPEATS} repeats each would be needed to tell {size} apart"
            else:
                text += f"; about {need} repeats each would tell {size} apart"
            lines.append(text)
    return lines


def drift(per_run: pd.DataFrame, by: Sequence[str] = ("mode",), metric: str = "makespan_s") -> pd.DataFrame:
    """The drift check: per group of ``by``, the first and last baseline runs (``role ==
    "baseline"``, in run ``order``) compared. ``change`` = last / first - 1; ``steady``
    when it is within :data:`DRIFT_TOLERANCE`. Empty without two baseline runs."""
    cols = [*by, "first", "last", "change", "steady"]
    if "role" not in per_run.columns or metric not in per_run.columns:
        return pd.DataFrame(columns=cols)
    base = per_run[per_run["role"] == "baseline"]
    if "order" in base.columns:
        base = base.sort_values("order")
    out = []
    for key, g in (base.groupby(list(by), sort=False, observed=True) if by else [((), base)]):
        if len(g) < 2:
            continue
        key = key if isinstance(key, tuple) else (key,)
        first, last = float(g[metric].iloc[0]), float(g[metric].iloc[-1])
        change = last / first - 1 if first > 0 else math.nan
        out.append({**dict(zip(by, key)), "first": first, "last": last, "change": change,
                    "steady": bool(abs(change) <= DRIFT_TOLERANCE)})
    return pd.DataFrame(out, columns=cols)


def describe_drift(d: pd.DataFrame, by: Sequence[str] = ("mode",), metric: str = "makespan_s") -> list[str]:
    """The drift check in words, one line per group."""
    info = METRIC_INFO[metric]
    lines = []
    for r in d.itertuples(index=False):
        r = r._asdict()
        where = ", ".join(str(r[k]) for k in by)
        head = (f"drift check{f' ({where})' if where else ''}: the sequential baseline's {info.noun} was "
                f"{r['first']:.3g} {info.unit} first and {r['last']:.3g} {info.unit} last "
                f"({'+' if r['change'] >= 0 else '-'}{_pct(r['change'])} %)")
        lines.append(head + (": steady" if r["steady"] else
                             ": the machine changed while the comparison ran; the shuffled, interleaved order "
                             "spread the change over every set-up, but a quieter machine gives tighter figures"))
    return lines
