"""What a trace's facts explain beyond each kind's median, and which kinds they help.

(Layer: analysis; :mod:`swarmlab.analysis.estimate` uses it. Needs scikit-learn, imported
when a model is fitted.)

A facts model predicts ``log(duration / key median)`` from the log numeric facts of a task
(its sizes, cores, memory). Two are tried: a per-kind linear law (ridge regression in log
space: runtimes that scale with what a task reads, and that extrapolate to sizes the
training trace did not have) and one gradient-boosted model over every kind (the key as a
category: laws that are not straight lines). Which one predicts a kind, if any, is chosen
on tasks the candidates did not train on: group-wise cross-validation by instance when
several are given (the error on a sibling trace is what matters), else contiguous held-out
parts of each kind. A model predicts a kind only where it ranks that kind's held-out tasks
(Spearman's rho at least :data:`MIN_RANK`) and its median absolute percentage error there
is lower than the kind's median's (by :data:`MIN_GAIN`); every other kind keeps its median.
A model that wins on interleaved held-out rows of one trace can lose on a sibling; these
rules are what keep it from being used where it does.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["FactsModel", "KindModels", "choose_models", "spearman", "MIN_RANK", "MIN_GAIN", "PARTS",
           "MIN_KIND_ROWS", "MODEL_ROUNDS", "CANDIDATES"]

#: Boosting rounds of the boosted model: enough for the smooth laws of sizes seen in traces;
#: at 100 a fit of 1,000 attempts takes about a second on a shared core.
MODEL_ROUNDS = 100
#: A model must rank a kind's held-out tasks at least this well (Spearman's rho): an error
#: that is lower on average but orders the tasks at random does not help a list scheduler.
MIN_RANK = 0.3
#: ... and cut the kind's held-out median absolute percentage error by at least this
#: fraction of the median's: a smaller gain is within what another split would undo.
MIN_GAIN = 0.05
#: Held-out parts of one instance (each kind's tasks in trace order, cut into contiguous
#: blocks: closer to a sibling than every fifth row, which shares its neighbours' inputs).
PARTS = 5
#: A kind is modelled only with at least this many training rows (and a held-out block
#: is ranked only with at least this many): fewer cannot show a law.
MIN_KIND_ROWS = 8
#: The facts models tried per kind, besides the median ("median").
CANDIDATES = ("linear", "boosted")
_RIDGE = 1.0  # ridge penalty of the linear law on standardised log facts: shrinks what few rows show


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (average ranks for ties); 0 when
    either is constant (a constant prediction ranks nothing)."""

    def ranks(v: Sequence[float]) -> list[float]:
        order = sorted(range(len(v)), key=v.__getitem__)
        out = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    if len(x) < 2:
        return 0.0
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def _one_thread() -> Any:
    """One OpenMP thread for the models: their fits are small, and on a shared machine the
    threads' spinning cost far more than they gave (400 rows: 4 s with threads, 0.08 s without)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


class FactsModel:
    """scikit-learn's gradient boosting over the key (as a category) and the log numeric
    facts, fitted to log(duration / key median) by least squares."""

    def __init__(self, rows: Sequence[tuple[Hashable, list[float], float]]) -> None:
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.codes: dict[Any, int] = {}
        for key, _, _ in rows:
            self.codes.setdefault(key, len(self.codes))
        width = len(rows[0][1])
        # only the facts some rows have (an all-missing column cannot be binned)
        self.cols = [j for j in range(width) if any(f[j] == f[j] for _, f, _ in rows)]
        x = np.array([[float(self.codes[k])] + [f[j] for j in self.cols] for k, f, _ in rows])
        y = np.array([r for _, _, r in rows])
        many = len(self.codes) > 250  # beyond the model's category bins: the key as a number
        self.model = HistGradientBoostingRegressor(
            loss="squared_error", max_iter=MODEL_ROUNDS, min_samples_leaf=max(2, min(20, len(rows) // 20)),
            categorical_features=None if many else [0], early_stopping=False, random_state=0)
        with _one_thread():
            self.model.fit(x, y)
        self.np = np

    def predict(self, keys: Sequence[Hashable], facts: Sequence[list[float]]) -> list[float]:
        x = self.np.array([[float(self.codes.get(k, math.nan))] + [f[j] for j in self.cols]
                           for k, f in zip(keys, facts)])
        with _one_thread():
            return [float(v) for v in self.model.predict(x)]


class _Linear:
    """One kind's ridge regression of log(duration / median) on its log facts that vary."""

    def __init__(self, facts: Sequence[list[float]], r: Sequence[float]) -> None:
        import numpy as np
        from sklearn.linear_model import Ridge

        x = np.array(facts, dtype=float)
        self.cols = [j for j in range(x.shape[1]) if not np.isnan(x[:, j]).any() and np.ptp(x[:, j]) > 0]
        self.model = None
        if self.cols:
            x = x[:, self.cols]
            self.mean, self.scale = x.mean(axis=0), x.std(axis=0)
            self.model = Ridge(alpha=_RIDGE).fit((x - self.mean) / self.scale, np.asarray(r, dtype=float))
        self.np = np

    def predict(self, facts: Sequence[list[float]]) -> list[float]:
        if self.model is None:
            return [0.0] * len(facts)
        x = self.np.array([[f[j] for j in self.cols] for f in facts], dtype=float)
        ok = ~self.np.isnan(x).any(axis=1)
        out = [0.0] * len(facts)
        if ok.any():
            got = self.model.predict((x[ok] - self.mean) / self.scale)
            for i, v in zip(self.np.flatnonzero(ok), got):
                out[int(i)] = float(v)
        return out


class KindModels:
    """The facts model each kind uses ("linear", "boosted"; a kind not in ``choice`` keeps
    its median): :meth:`predict` gives log(duration / key median) for tasks by their key."""

    def __init__(self, rows: Sequence[tuple[Hashable, list[float], float]], choice: dict[Hashable, str]) -> None:
        self.choice = dict(choice)
        by_kind: dict[Hashable, list[tuple[list[float], float]]] = {}
        for k, f, r in rows:
            by_kind.setdefault(k, []).append((f, r))
        self.linear = {k: _Linear([f for f, _ in by_kind[k]], [r for _, r in by_kind[k]])
                       for k, c in self.choice.items() if c == "linear" and k in by_kind}
        self.boosted = FactsModel(rows) if "boosted" in self.choice.values() else None

    def predict(self, keys: Sequence[Hashable], facts: Sequence[list[float]]) -> list[float]:
        out = [0.0] * len(keys)
        groups: dict[Hashable, list[int]] = {}
        for i, k in enumerate(keys):
            if k in self.linear:
                groups.setdefault(k, []).append(i)
        for k, idx in groups.items():
            for i, v in zip(idx, self.linear[k].predict([facts[i] for i in idx])):
                out[i] = v
        if self.boosted is not None:
            idx = [i for i, k in enumerate(keys) if self.choice.get(k) == "boosted"]
            if idx:
                for i, v in zip(idx, self.boosted.predict([keys[i] for i in idx], [facts[i] for i in idx])):
                    out[i] = v
        return out


def _folds(groups: Sequence[int], keys: Sequence[Hashable]) -> list[list[int]]:
    """Held-out row indices per fold: each group when there are several, else each kind's
    rows (in order) cut into :data:`PARTS` contiguous blocks, block ``i`` of every kind in fold ``i``."""
    if len(set(groups)) > 1:
        by: dict[int, list[int]] = {}
        for i, g in enumerate(groups):
            by.setdefault(g, []).append(i)
        return list(by.values())
    by_kind: dict[Hashable, list[int]] = {}
    for i, k in enumerate(keys):
        by_kind.setdefault(k, []).append(i)
    folds: list[list[int]] = [[] for _ in range(PARTS)]
    for idx in by_kind.values():
        for p in range(PARTS):
            folds[p].extend(idx[len(idx) * p // PARTS:len(idx) * (p + 1) // PARTS])
    return [f for f in folds if f]


def _ape(pred_log: float, true_log: float) -> float:
    return abs(math.exp(pred_log - true_log) - 1)


def choose_models(rows: Sequence[tuple[Hashable, list[float] | None, float]], groups: Sequence[int], *,
                  candidates: Sequence[str] = CANDIDATES,
                  forced: bool = False) -> tuple[dict[Hashable, str], float, float]:
    """Which facts model predicts each kind, by cross-validation (see the module docstring).

    ``rows`` are (kind key, log facts, duration at speed 1) of the observed attempts,
    ``groups`` the instance each came from; ``candidates`` the models tried (none: only the
    medians' expected error is measured, and rows need no facts). ``forced``: the boosted
    model for every kind, as ``method="sklearn"`` asks (its expected error is still
    measured). Returns the choice
    (kind key -> "linear" or "boosted"; kinds left out keep their medians), the expected
    error of the estimator so chosen and that of the medians alone (the median absolute
    percentage error on held-out rows; NaN when no row could be held out).
    """
    keys = [k for k, _, _ in rows]
    logs = [math.log(w + 1e-6) for _, _, w in rows]
    # per kind and candidate: (held-out fold, predicted log, true log) of each held-out row
    got: dict[Hashable, dict[str, list[tuple[int, float, float]]]] = {}
    names = ("median", "boosted") if forced else ("median", *candidates)
    for fold, held in enumerate(_folds(groups, keys)):
        out = set(held)
        train = [i for i in range(len(rows)) if i not in out]
        by_kind: dict[Hashable, list[int]] = {}
        for i in train:
            by_kind.setdefault(keys[i], []).append(i)
        med = {k: statistics.median(logs[i] for i in idx) for k, idx in by_kind.items()}
        held = [i for i in held if keys[i] in med]  # a kind unseen in training: nothing to compare
        if not held or not train:
            continue
        data = [(keys[i], rows[i][1], logs[i] - med[keys[i]]) for i in train]
        preds: dict[str, list[float]] = {"median": [0.0] * len(held)}
        if "linear" in names:
            lin = {k: _Linear([rows[i][1] for i in idx], [logs[i] - med[k] for i in idx])
                   for k, idx in by_kind.items() if len(idx) >= MIN_KIND_ROWS}
            at = {i: j for j, i in enumerate(held)}
            preds["linear"] = [0.0] * len(held)
            for k, law in lin.items():
                idx = [i for i in held if keys[i] == k]
                for i, v in zip(idx, law.predict([rows[i][1] for i in idx]) if idx else ()):
                    preds["linear"][at[i]] = v
        if "boosted" in names:
            preds["boosted"] = FactsModel(data).predict([keys[i] for i in held], [rows[i][1] for i in held])
        for name, p in preds.items():
            for i, v in zip(held, p):
                got.setdefault(keys[i], {}).setdefault(name, []).append((fold, med[keys[i]] + v, logs[i]))
    choice: dict[Hashable, str] = {}
    for k, cands in got.items():
        base = statistics.median(_ape(p, t) for _, p, t in cands["median"])
        best, best_err = None, base * (1 - MIN_GAIN)
        for name in names[1:]:
            err = statistics.median(_ape(p, t) for _, p, t in cands[name])
            if forced or (err < best_err and _rank(cands[name]) >= MIN_RANK):
                best, best_err = name, err
        if best is not None:
            choice[k] = best
    if forced:  # every kind with facts, even one too small to be held out
        choice = {k: "boosted" for k in keys}
    chosen = [_ape(p, t) for k, cands in got.items() for _, p, t in cands[choice.get(k, "median")]]
    medians = [_ape(p, t) for cands in got.values() for _, p, t in cands["median"]]
    expected = statistics.median(chosen) if chosen else math.nan
    base = statistics.median(medians) if medians else math.nan
    if not forced and chosen and expected >= base:  # never worse than the medians where it was measured
        choice, expected = {}, base
    return choice, expected, base


def _rank(cands: list[tuple[int, float, float]]) -> float:
    """Spearman's rho of predictions and truths within each held-out fold's block of a
    kind, weighted by block size (blocks of fewer than MIN_KIND_ROWS rows left out)."""
    blocks: dict[int, list[tuple[float, float]]] = {}
    for fold, p, t in cands:
        blocks.setdefault(fold, []).append((p, t))
    total = weight = 0.0
    for b in blocks.values():
        if len(b) >= MIN_KIND_ROWS:
            total += len(b) * spearman([p for p, _ in b], [t for _, t in b])
            weight += len(b)
    return total / weight if weight else 0.0
