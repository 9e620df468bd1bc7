"""Submission: the checks a batch of tasks passes before the dispatcher accepts any of
it, and the ids a run has given out.

A batch is accepted atomically: :meth:`Intake.check` raises on the first thing wrong
(a duplicate id, an unknown dependency, a cycle, a bad priority, a task no agent can
run) and changes nothing a caller sees; :meth:`Intake.accept` then commits the ids.
A run that forgets its ended tasks (``forget``) keeps how each ended, so duplicate ids
and dependencies on ended tasks are still checked (:meth:`Intake.ended_status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from ..errors import ConfigError, DependencyCycleError
from ..model import Task, TaskStatus
from ..scheduling.capabilities import CapabilityIndex
from ..scheduling.dag import find_cycle, upward_ranks
from .ended import EndedTasks
from .taskstate import TaskState

__all__ = ["Checked", "OWN_PRIORITIES", "Intake", "AUTO_PREFIX", "rank", "wire"]

#: Automatic ids are ``task-<n>``, n counting up in the run.
AUTO_PREFIX = "task-"


#: A checked batch, as :meth:`Intake.check` returns it: each task's id, the priorities
#: given (or :data:`OWN_PRIORITIES` when none were: each task's own), the dependency ids of each task (None when no task of
#: the batch has any), the next automatic number once the batch is accepted and how many
#: ids the caller gave (automatic ones are new by construction). A tuple, not an object:
#: a batch of one task (``submit_task``) pays for no class call.
Checked = tuple[list[str], Iterable[int | None], list[list[str]] | None, int, int]

#: Priorities of a batch given none: None (the task's own) for every task, however many;
#: one endless iterator, shared (it holds no state), so that such a batch builds no list.
OWN_PRIORITIES = repeat(None)


class Intake:
    """What a run has accepted, as far as ids go, and the checks of a new batch.

    Parameters
    ----------
    known : dict
        The run's unfinished (or, without ``forget``, every) task state by id; read only.
    index : CapabilityIndex
        Says whether some agent holds what a task requires.
    forget : bool
        Ended tasks leave ``known``: :attr:`ended` keeps how each ended.
    """

    __slots__ = ("known", "index", "ended", "next_auto", "given_auto")

    def __init__(self, known: dict[str, TaskState], index: CapabilityIndex, forget: bool = False) -> None:
        self.known = known
        self.index = index
        self.ended = EndedTasks() if forget else None
        self.next_auto = 0
        self.given_auto: set[str] = set()  # forgetting: given ids that look like automatic ones

    # ------------------------------------------------------------------ checks
    def check(self, tasks: Sequence[Task], priorities: Sequence[int | None] | None = None) -> Checked:
        """The batch, checked (see :data:`Checked`); raises ConfigError,
        DependencyCycleError or NoEligibleAgentError and changes nothing when any of it
        cannot be accepted."""
        known = self.known
        groups = self.index.groups
        given_auto = self.given_auto  # (forgetting) given ids that automatic ones must skip
        ids: list[str] = []
        auto = self.next_auto
        any_deps = False
        given = 0
        for t in tasks:
            if not isinstance(t, Task):
                raise ConfigError(f"submit takes Task objects; got {type(t).__name__} {t!r}")
            tid = t.id
            if tid is None:
                tid = f"{AUTO_PREFIX}{auto}"
                while tid in known or (given_auto and tid in given_auto):
                    auto += 1
                    tid = f"{AUTO_PREFIX}{auto}"
                auto += 1
            else:
                given += 1
            ids.append(tid)
            if t.dependencies:
                any_deps = True
            if t.requires not in groups:
                self.index.eligible(t.requires, tid)  # raises NoEligibleAgentError
        if given or any_deps:
            in_batch = self._check_ids(tasks, ids)
        elif len(ids) > 1 and len(set(tasks)) != len(ids):  # Task hashes by identity: the same object twice
            self._explain_duplicates(tasks, ids)
        if priorities is not None:
            for p in priorities:
                if p is not None and (type(p) is not int or not 1 <= p <= 10):
                    self._refuse_priority(p)  # (an int subclass in range passes there)
        else:
            priorities = OWN_PRIORITIES
        dep_ids = self._resolve_dependencies(tasks, ids, in_batch) if any_deps else None
        return ids, priorities, dep_ids, auto, given

    def _check_ids(self, tasks: Sequence[Task], ids: list[str]) -> set[str]:
        """The ids of a batch with ids given (or dependencies, which may name them),
        checked: none is taken, in the batch twice or (forgetting) used by a task that ended."""
        n = len(ids)
        in_batch = set(ids)
        if len(in_batch) != n or not in_batch.isdisjoint(self.known) or n > 1 and len(set(tasks)) != n:
            self._explain_duplicates(tasks, ids)
        if self.ended is not None:
            given = [tid for t, tid in zip(tasks, ids) if t.id is not None]
            if given:
                self._refuse_ended(given)
        return in_batch

    @staticmethod
    def _refuse_priority(p: Any) -> None:
        """Raise unless ``p`` is a priority (checked off the fast path of plain ints)."""
        if isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 10:
            return  # an int subclass in range (an IntEnum): allowed, as before
        raise ConfigError(f"priority must be an int from 1 (low) to 10 (critical); got {p!r}")

    def accept(self, tasks: Sequence[Task], ids: list[str], next_auto: int, given: int) -> None:
        """The checked batch of ``tasks`` (their ids ``ids``) is accepted: its ids are
        taken; ``next_auto`` and ``given`` are the :data:`Checked` batch's."""
        self.next_auto = next_auto
        if given and self.ended is not None:
            self.given_auto.update(tid for t, tid in zip(tasks, ids)
                                   if t.id is not None and tid.startswith(AUTO_PREFIX))

    def _explain_duplicates(self, tasks: Sequence[Task], ids: list[str]) -> None:
        seen_obj: set[int] = set()
        seen: set[str] = set()
        for t, tid in zip(tasks, ids):
            if id(t) in seen_obj:
                raise ConfigError(f"the same Task object {tid!r} appears twice in one batch")
            if tid in seen or tid in self.known:
                raise ConfigError(f"task id {tid!r} is already used in this run; task ids must be unique")
            seen_obj.add(id(t))
            seen.add(tid)

    def _refuse_ended(self, given: list[str]) -> None:
        dup = self.ended.first_of(given) or next((t for t in given if self.was_auto(t)), None)
        if dup is not None:
            raise ConfigError(f"task id {dup!r} is already used in this run (that task ended "
                              f"{self.ended_status(dup).value}); task ids must be unique")

    def _resolve_dependencies(self, tasks: Sequence[Task], ids: list[str], in_batch: set[str]) -> list[list[str]]:
        """Dependency ids per task; unknown ones and cycles raise."""
        known = self.known
        batch_ids = {id(t): tid for t, tid in zip(tasks, ids)}
        dep_ids: list[list[str]] = []
        for t, tid in zip(tasks, ids):
            deps = []
            for d in t.dependencies:
                did = (batch_ids.get(id(d)) or d.id) if isinstance(d, Task) else d
                if did is None or (did not in in_batch and did not in known and self.ended_status(did) is None):
                    raise ConfigError(
                        f"task {tid!r} depends on {did or d!r}, which is neither submitted "
                        "nor in this batch; submit the dependency first or in the same batch"
                    )
                deps.append(did)
            dep_ids.append(deps)
        # Only edges inside the batch can close a cycle: earlier tasks cannot depend on new ones.
        edges = {tid: [d for d in deps if d in in_batch] for tid, deps in zip(ids, dep_ids)}
        cycle = find_cycle(edges) if any(edges.values()) else None
        if cycle is not None:
            raise DependencyCycleError(cycle)
        return dep_ids

    # ------------------------------------------------------------------ ended tasks
    def ended_status(self, tid: str) -> TaskStatus | None:
        """How a task that ended and was forgotten (``forget``) ended; None when this
        run forgot no task of that id."""
        if self.ended is None:
            return None
        status = self.ended.get(tid)
        if status is None and self.was_auto(tid):
            return TaskStatus.COMPLETED  # completed tasks with automatic ids are not kept
        return status

    def was_auto(self, tid: str) -> bool:
        """``tid`` is an automatic id this run gave (``task-<n>``, n below the counter)."""
        n = tid[len(AUTO_PREFIX):]
        return (tid.startswith(AUTO_PREFIX) and n.isascii() and n.isdigit() and (n == "0" or n[0] != "0")
                and int(n) < self.next_auto and tid not in self.given_auto)

    def forget(self, tid: str, status: TaskStatus) -> None:
        """(forgetting) ``tid`` ended with ``status``: keep how, unless it completed
        under an automatic id (which :meth:`ended_status` answers without it)."""
        if status is not TaskStatus.COMPLETED or not self.was_auto(tid):
            self.ended.add(tid, status)


# ---------------------------------------------------------------------- accepted batches
def wire(states: list[TaskState], dep_ids: list[list[str]], known: dict[str, TaskState]) -> None:
    """Each accepted task waits on its dependencies that have not completed (one that
    ended and was forgotten is not in ``known``: the caller asks how it ended)."""
    for st, deps in zip(states, dep_ids):
        for did in deps:
            dep = known.get(did)
            if dep is None or dep.state is TaskStatus.COMPLETED:
                continue
            if dep.dependents is None:
                dep.dependents = []
            dep.dependents.append(st)
            st.waiting_on += 1


def rank(states: list[TaskState], ids: list[str], dep_ids: list[list[str]] | None) -> None:
    """Upward ranks of a batch, for a policy that orders starts by them (HEFT)."""
    if dep_ids is None:
        for st in states:
            st.rank = st.weight
        return
    pos = {tid: i for i, tid in enumerate(ids)}
    deps = [[pos[d] for d in ds if d in pos] for ds in dep_ids]
    for st, r in zip(states, upward_ranks([st.weight for st in states], deps)):
        st.rank = r
