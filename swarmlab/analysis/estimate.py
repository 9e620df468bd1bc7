"""Learned task durations: what a task will last, from what tasks like it lasted.

(Layer: frames and analysis; it reads run records. The dispatcher sees an estimator only
through ``predict``, ``observe`` and ``version``.)

A task is described by its *key*: its name with the numeric suffix stripped
(``"mProject_00000017"`` -> ``"mProject"``), its program or category (from the facts of a
trace, :attr:`Workload.task_meta`), its kind and its required capabilities. The base
prediction is the median duration, at speed 1, of the observed tasks with the most
specific key seen (falling back to name and program, name, program, then everything); an
agent's prediction divides by its declared speed and multiplies by the median of how much
slower than that it was measured. With scikit-learn (``pip install 'swarmlab[ml]'``) and
numeric facts (cores, memory, bytes read, written, in or out), a facts model learns what
those facts explain beyond each key's median, kind by kind: a kind whose facts do not
help keeps its median (:mod:`swarmlab.analysis.estimate_models` chooses, on tasks the
models did not train on, and says what error to expect).
"""

from __future__ import annotations

import copy
import math
import re
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailable, ConfigError
from ..events import Fields, row_builder
from ..model import Agent, Task
from .estimate_models import CANDIDATES, KindModels, choose_models

if TYPE_CHECKING:
    import pandas as pd

    from ..store.records import RunRecord

__all__ = ["DurationEstimator", "learn_durations", "task_family", "NUMERIC_FACTS", "WINDOW"]

_SUFFIX = re.compile(r"(?:[-_.:#\s]*\d+)+$")
#: Facts of ``Workload.task_meta`` the scikit-learn model reads (log-scaled).
NUMERIC_FACTS = ("cores", "memory_bytes", "read_bytes", "written_bytes", "input_bytes", "output_bytes")
#: Observations kept per key: medians follow what recent tasks measured and cost O(WINDOW).
WINDOW = 4096
# The model is fitted only with enough rows to learn from; fewer, and the key medians stand alone.
_MIN_MODEL_ROWS = 20
_EPS_S = 1e-6  # durations of 0 are logged as this, so that ratios stay finite
_METHODS = ("auto", "median", "sklearn")
# One prediction asked for, a row as the recorder's are (a plain tuple, cheap to build by
# name, read by name): the parts of the task's keys, its facts, and the agent (None and
# speed 1: what ``Task.estimate_s`` means).
_QUERY_FIELDS = ("name", "program", "kind", "requires", "facts", "agent_id", "speed")
_QUERY = Fields(_QUERY_FIELDS)
_query = row_builder("query", _QUERY_FIELDS)
_INSTALL = "pip install 'swarmlab[ml]'"


def task_family(name: str | None) -> str:
    """``name`` without its numeric suffix: ``"fetch-12"`` -> ``"fetch"``; a name that
    is only digits is kept."""
    if not name:
        return ""
    return _SUFFIX.sub("", name) or name


def _program(facts: Mapping[str, Any] | None) -> str | None:
    if not facts:
        return None
    p = facts.get("program") or facts.get("category")
    return None if p is None else str(p)


def _keys(name: str | None, program: str | None, kind: str | None, requires: tuple) -> tuple[tuple, ...]:
    """The keys of a task, most specific first."""
    fam = task_family(name)
    return ((0, fam, program, kind, requires), (1, fam, program), (2, fam), (3, program), (4,))


def _numeric(facts: Mapping[str, Any] | None) -> list[float] | None:
    if not facts:
        return None
    row = [math.log1p(float(facts[k])) if isinstance(facts.get(k), (int, float)) and facts[k] >= 0 else math.nan
           for k in NUMERIC_FACTS]
    return row if any(v == v for v in row) else None


class _Bucket:
    """The recent observations of one key and their cached median."""

    __slots__ = ("values", "median")

    def __init__(self) -> None:
        self.values: deque[float] = deque(maxlen=WINDOW)
        self.median: float | None = None

    def add(self, v: float) -> None:
        self.values.append(v)
        self.median = None

    def get(self) -> float:
        if self.median is None:
            self.median = statistics.median(self.values)
        return self.median


class DurationEstimator:
    """Predicts task durations from observed ones; see the module docstring.

    Build one with :func:`learn_durations` (from run records), or empty
    (``DurationEstimator()``) and let a run teach it: given to a ``TaskScheduler``
    (``estimator=``) that drives a :class:`~swarmlab.ParallelExecutor`, it learns from
    each completed attempt. ``simulate(..., estimator=)`` and ``TaskScheduler(...,
    estimator=)`` fill in the ``estimate_s`` of tasks that have none.

    Attributes
    ----------
    method : {"median", "sklearn"}
        What predicts: the key medians alone, or with the scikit-learn model of the facts.
    facts : mapping
        Task id -> facts (``Workload.task_meta``) of the tasks it predicts for; see
        :meth:`with_facts`.
    version : int
        Grows with every observation (a run re-predicts waiting tasks when it changed).
    expected_error : float
        An estimate, made when it was learned, of the median absolute percentage error of
        its predictions on tasks it did not learn from (0.1 is 10 %): measured on the
        instances left out in turn when :func:`learn_durations` was given several, else on
        held-out parts of one. NaN when it could not be measured (an empty estimator, one
        key per task).
    kind_models : mapping
        Task kind (name without its numeric suffix) -> the facts model that predicts it,
        ``"linear"`` or ``"boosted"``; a kind not listed is predicted by its median.
    """

    def __init__(self, *, facts: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._buckets: dict[tuple, _Bucket] = {}
        self._agents: dict[str, _Bucket] = {}  # agent id -> measured / predicted at its declared speed
        self._model: KindModels | None = None
        self.expected_error = math.nan
        self.kind_models: dict[str, str] = {}
        self.facts: Mapping[str, Mapping[str, Any]] = facts or {}
        self.version = 0
        self.n_observed = 0

    @property
    def method(self) -> str:
        return "median" if self._model is None else "sklearn"

    def __repr__(self) -> str:
        keys = sum(1 for k in self._buckets if k[0] == 0)
        return f"DurationEstimator(method={self.method!r}, keys={keys}, observed={self.n_observed})"

    def describe(self) -> str:
        """One line: which kinds the facts predict and the error to expect (an estimate)."""
        err = "not measured" if math.isnan(self.expected_error) else f"{self.expected_error:.0%}"
        kinds = len({k[1] for k in self._buckets if k[0] == 0})
        used = ", ".join(f"{m} {sum(v == m for v in self.kind_models.values())}" for m in CANDIDATES
                         if m in self.kind_models.values())
        return f"facts predict {len(self.kind_models)} of {kinds} kinds{f' ({used})' if used else ''}, " \
               f"expected error {err}"

    def with_facts(self, facts: Mapping[str, Mapping[str, Any]]) -> DurationEstimator:
        """The same estimator (sharing what it learned and learns) predicting for tasks whose
        facts are ``facts`` (task id -> facts, such as another workload's ``task_meta``)."""
        out = copy.copy(self)
        out.facts = facts
        return out

    # ------------------------------------------------------------------ predictions
    def _base(self, keys: tuple[tuple, ...]) -> float | None:
        for k in keys:
            b = self._buckets.get(k)
            if b is not None:
                return b.get()
        return None

    def _predict_rows(self, rows: list[tuple]) -> list[float | None]:
        """Predictions for each query row (``_QUERY_FIELDS``); the model, if any,
        predicts for all of them in one call."""
        name, program, kind, requires = _QUERY.name, _QUERY.program, _QUERY.kind, _QUERY.requires
        keys = [_keys(q[name], q[program], q[kind], q[requires]) for q in rows]
        out: list[float | None] = [self._base(k) for k in keys]
        if self._model is not None:
            facts = _QUERY.facts
            todo = [(i, num) for i, q in enumerate(rows)
                    if out[i] is not None and (num := _numeric(q[facts])) is not None]
            if todo:
                logs = self._model.predict([keys[i][0] for i, _ in todo], [num for _, num in todo])
                for (i, _), r in zip(todo, logs):
                    out[i] = (out[i] + _EPS_S) * math.exp(r) - _EPS_S
        agent_at, speed_at = _QUERY.agent_id, _QUERY.speed
        for i, q in enumerate(rows):
            base, agent_id, speed = out[i], q[agent_at], q[speed_at]
            if base is None:
                continue
            base = max(base, 0.0)
            if agent_id is not None:
                ratio = self._agents.get(agent_id)
                base = base * (ratio.get() if ratio is not None else 1.0) / speed
            out[i] = base
        return out

    def _row(self, task: Task, agent: Agent | None) -> tuple:
        facts = self.facts.get(task.id) if task.id is not None else None
        req = tuple(sorted(task.requires)) if task.requires else ()
        return _query(name=task.name, program=_program(facts), kind=task.kind, requires=req, facts=facts,
                      agent_id=None if agent is None else agent.id, speed=1.0 if agent is None else agent.speed)

    def predict(self, task: Task, agent: Agent | None = None) -> float | None:
        """Seconds ``task`` should last on ``agent``; with no agent, on an agent of speed 1
        (what ``Task.estimate_s`` means). None before any observation."""
        return self._predict_rows([self._row(task, agent)])[0]

    def predict_many(self, tasks: Iterable[Task]) -> list[float | None]:
        """:meth:`predict` for each of ``tasks`` (no agent), in one call of the model."""
        return self._predict_rows([self._row(t, None) for t in tasks])

    # ------------------------------------------------------------------ learning
    def _add(self, keys: tuple[tuple, ...], work_s: float, agent_id: str | None) -> None:
        base = self._base(keys)
        if agent_id is not None and base is not None and base > 0:
            self._agents.setdefault(agent_id, _Bucket()).add(work_s / base)
        for k in keys:
            b = self._buckets.get(k)
            if b is None:
                b = self._buckets[k] = _Bucket()
            b.add(work_s)
        self.n_observed += 1
        self.version += 1

    def observe(self, task: Task, agent: Agent, run_s: float) -> None:
        """Learn from one completed attempt of ``task`` that ran ``run_s`` seconds on
        ``agent`` (the key medians and the agent's ratio; the model is not refitted)."""
        facts = self.facts.get(task.id) if task.id is not None else None
        req = tuple(sorted(task.requires)) if task.requires else ()
        self._add(_keys(task.name, _program(facts), task.kind, req), run_s * agent.speed, agent.id)

    def error(self, records: Any) -> float:
        """Median absolute percentage error of the predictions for the completed attempts
        of ``records`` (their agents' as recorded) as a fraction: 0.1 is 10 %. Attempts
        that lasted 0 s are left out (no percentage of 0); NaN when none is left."""
        rows, runs = [], []
        for _, tid, name, kind, req, agent_id, speed, run_s in _observations(records):
            if run_s > 0:
                facts = self.facts.get(tid)
                rows.append(_query(name=name, program=_program(facts), kind=kind, requires=req, facts=facts,
                                   agent_id=agent_id, speed=speed))
                runs.append(run_s)
        apes = [abs(p - r) / r for p, r in zip(self._predict_rows(rows), runs) if p is not None]
        return statistics.median(apes) if apes else math.nan


def _frames(records: Any) -> Iterable[tuple[pd.DataFrame, dict[str, float]]]:
    from ..store.records import RunRecord

    if isinstance(records, RunRecord):
        yield records.tasks, {a["id"]: a["speed"] for a in records.meta.get("agents") or []}
        return
    if hasattr(records, "columns"):  # a tasks frame
        yield records, {}
        return
    if isinstance(records, Iterable) and not isinstance(records, (str, bytes, Mapping)):
        for r in records:
            yield from _frames(r)
        return
    raise ConfigError(f"records must be a RunRecord, a tasks DataFrame or a list of them; got {records!r}")


def _observations(records: Any) -> Iterable[tuple]:
    """(group, task id, name, kind, requires, agent id, agent speed, run s) of completed
    attempts; the group numbers the record (instance) each came from."""
    for group, (t, speed) in enumerate(_frames(records)):
        missing = {"task_id", "name", "status", "agent_id", "run_s"} - set(t.columns)
        if missing:
            raise ConfigError(f"a tasks frame needs the columns {sorted(missing)}; give RunRecord.tasks")
        done = t[(t["status"] == "completed") & t["run_s"].notna()]
        kinds = done["kind"] if "kind" in done else [None] * len(done)
        reqs = done["requires"] if "requires" in done else [()] * len(done)
        for tid, name, kind, req, agent, run in zip(done["task_id"], done["name"], kinds, reqs,
                                                    done["agent_id"], done["run_s"]):
            kind = None if kind is None or kind != kind else str(kind)
            agent = None if agent is None or agent != agent else str(agent)
            yield (group, str(tid), None if name is None or name != name else str(name), kind,
                   tuple(sorted(req)) if req is not None and len(req) else (), agent,
                   float(speed.get(agent, 1.0)), float(run))


def learn_durations(records: Any, *, facts: Mapping[str, Mapping[str, Any]] | Sequence[Mapping] | None = None,
                    method: str = "auto") -> DurationEstimator:
    """Fit a :class:`DurationEstimator` to the completed attempts of run records.

    Parameters
    ----------
    records : RunRecord, tasks DataFrame, or a list of them
        Agents' speeds come from a record's meta (1 for a bare frame).
    facts : mapping or list of mappings, optional
        Task id -> facts of the recorded tasks (a workload's ``task_meta``): the program
        or category joins the key, numeric facts feed the scikit-learn model. A list
        gives one mapping per record, in order (instances of one family share task ids).
    method : {"auto", "median", "sklearn"}
        ``"auto"``: scikit-learn when it is installed and the facts give it something to
        learn from (numeric facts on at least 20 attempts), kind by kind: a kind is
        predicted by a facts model (its own linear law of the log facts, or one boosted
        model of every kind) only where, on tasks it did not train on, that model ranks
        the kind's tasks (Spearman's rho >= 0.3) and errs less than the kind's median;
        the others keep their medians. Those tasks are each instance in turn when
        ``records`` holds several (what matters is the error on a sibling), else
        contiguous parts of one. ``"sklearn"``: the boosted model for every kind.
        ``"median"``: the key medians. Each sets ``expected_error``.

    Raises
    ------
    ConfigError
        No completed attempt in ``records``; an unknown ``method``.
    BackendUnavailable
        ``method="sklearn"`` without scikit-learn installed.

    Examples
    --------
    >>> from swarmlab import Task, simulate
    >>> rec = simulate([Task(None, name=f"fetch-{i}", estimate_s=2.0) for i in range(3)])
    >>> learn_durations(rec).predict(Task(None, name="fetch-99"))
    2.0
    """
    if method not in _METHODS:
        raise ConfigError(f"method must be one of {', '.join(repr(m) for m in _METHODS)}; got {method!r}")
    est = DurationEstimator()
    if isinstance(facts, (list, tuple)):  # one mapping per record: instances may share task ids
        n_records = sum(1 for _ in _frames(records))
        if len(facts) != n_records or not all(isinstance(f, Mapping) for f in facts):
            raise ConfigError(f"facts as a list needs one mapping (a workload's task_meta) per record: "
                              f"{n_records} records, got {len(facts)} items; or give one mapping for all")
        per_record = list(facts)
    else:
        per_record = None
    facts = facts or {}
    rows, every = [], []
    for group, tid, name, kind, req, agent_id, speed, run_s in _observations(records):
        f = per_record[group].get(tid) if per_record is not None else facts.get(tid)
        keys = _keys(name, _program(f), kind, req)
        est._add(keys, run_s * speed, agent_id)
        num = _numeric(f)
        every.append((keys[0], num, run_s * speed, group))
        if num is not None:
            rows.append(every[-1])
    if not est.n_observed:
        raise ConfigError("learn_durations found no completed attempt with a run time in the records given; "
                          "give the records of a run that completed tasks")
    choice: dict = {}
    candidates: tuple[str, ...] = ()
    if method != "median":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            if method == "sklearn":
                raise BackendUnavailable(f"method='sklearn' needs scikit-learn; install it with {_INSTALL}, "
                                         "or use method='median'") from None
        else:
            candidates = CANDIDATES if len(rows) >= _MIN_MODEL_ROWS else ()
    if candidates:
        choice, est.expected_error, _ = choose_models([r[:3] for r in rows], [r[3] for r in rows],
                                                      forced=method == "sklearn")
    if not choice:  # the medians alone: their own expected error, over every attempt
        _, est.expected_error, _ = choose_models([r[:3] for r in every], [r[3] for r in every], candidates=())
    else:
        # the models are refitted on every row, to log(duration / the key's median)
        data = [(k, num, math.log((w + _EPS_S) / (est._buckets[k].get() + _EPS_S))) for k, num, w, _ in rows]
        est._model = KindModels(data, choice)
        est.kind_models = {k[1]: m for k, m in choice.items()}
    return est
