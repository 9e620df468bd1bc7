"""Admission under resource limits, on virtual time: readings in, decisions out."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmlab import Agent, ResourceLimits, Task, TaskStatus
from swarmlab.core.admission import Admission, Decision, over_task_memory
from swarmlab.core.dispatcher import Dispatcher
from swarmlab.events import Recorder
from swarmlab.scheduling.policies import LeastLoaded


def _decisions(admission, readings, cores=1):
    """Feed ``(t, cpu_pct, rss_mb)`` readings; the decisions taken, as ``(t, throttle)``."""
    throttled, out = False, []
    for t, cpu, mb in readings:
        d = admission.decide(throttled, cpu, cores, mb)
        if d is not None:
            throttled = d.throttle
            out.append((t, d.throttle))
    return out


def test_admission_pauses_past_a_limit_and_resumes_only_under_its_resume_fraction():
    a = Admission(ResourceLimits(max_cpu_percent=None, max_memory_mb=100, resume_fraction=0.9))
    mb = [50, 120, 99, 95, 90, 89, 100, 101, 100, 89.9]
    readings = [(float(t), 0.0, m) for t, m in enumerate(mb)]
    # 120 pauses; 99, 95 and 90 are under the limit but not under 90 %: still paused;
    # 89 resumes; 100 is not over the limit; 101 pauses again; 89.9 resumes
    assert _decisions(a, readings) == [(1.0, True), (5.0, False), (7.0, True), (9.0, False)]


def test_cpu_is_read_as_a_share_of_the_cores_and_the_decision_says_what_was_read():
    a = Admission(ResourceLimits(max_cpu_percent=80, max_memory_mb=None))
    assert a.decide(False, 150.0, 2, 0.0) is None  # 75 % of two cores
    d = a.decide(False, 170.0, 2, 0.0, "the machine")
    assert d == Decision(True, "cpu 85.0% of the machine (170% of one core) vs limit 80%", ("cpu",))
    assert a.decide(True, 150.0, 2, 0.0) is None  # 75 % is not under 72 %
    assert a.decide(True, 140.0, 2, 0.0).throttle is False


def test_resuming_needs_every_reading_under_its_fraction():
    a = Admission(ResourceLimits(max_cpu_percent=50, max_memory_mb=100))
    d = a.decide(False, 10.0, 1, 150.0)
    assert d.throttle and d.over == ("memory",) and "memory 150 MB of the machine" in d.reading
    assert a.decide(True, 10.0, 1, 95.0) is None  # cpu is low, memory is not under 90 MB
    assert a.decide(True, 60.0, 1, 10.0) is None  # memory is low, cpu is over
    d = a.decide(True, 10.0, 1, 10.0)
    assert d.throttle is False and "cpu 10.0%" in d.reading and "memory 10 MB" in d.reading


def test_without_limits_nothing_is_ever_decided():
    a = Admission(ResourceLimits(max_cpu_percent=None, max_memory_mb=None))
    assert all(a.decide(t, 1e6, 1, 1e9) is None for t in (False, True))


@given(st.lists(st.tuples(st.floats(0, 400), st.floats(0, 400)), max_size=60),
       st.sampled_from([0.5, 0.9, 1.0]))
def test_decisions_alternate_and_no_reading_over_a_limit_leaves_admission_open(readings, fraction):
    lim = ResourceLimits(max_cpu_percent=100, max_memory_mb=200, resume_fraction=fraction)
    a = Admission(lim)
    throttled = False
    for cpu, mb in readings:
        d = a.decide(throttled, cpu, 2, mb)
        if d is not None:
            assert d.throttle is not throttled  # pause, resume, pause...
            if d.throttle:
                assert d.over and (cpu / 2 > 100 or mb > 200)
            else:
                assert cpu / 2 < fraction * 100 and mb < fraction * 200
            throttled = d.throttle
        assert throttled or (cpu / 2 <= 100 and mb <= 200)


def test_decisions_applied_to_a_dispatcher_hold_back_work_until_resumed():
    """The executor's loop on virtual time: each sample's decision goes to the dispatcher."""
    lim = ResourceLimits(max_cpu_percent=None, max_memory_mb=100, max_concurrent_tasks=2)
    d = Dispatcher([Agent("a", capacity=2)], LeastLoaded(), lim, Recorder())
    a = Admission(lim)
    d.submit([Task(None, id=f"t{i}", estimate_s=1) for i in range(6)], 0.0)

    def start(t):
        out = d.take_starts(t)
        for s in out:
            d.started(s, t, "virtual")
        return [s.id for s in out]

    def finish(tid, t):
        d.finish(d.tasks[tid], d.tasks[tid].attempt, t, TaskStatus.COMPLETED)

    def sample(t, mb):
        decision = a.decide(d.throttled, 0.0, 1, mb)
        if decision is not None:
            d.set_throttled(decision.throttle, t, decision.reading)

    assert start(0.0) == ["t0", "t1"]
    sample(0.5, 150.0)
    finish("t0", 1.0)
    sample(1.0, 95.0)  # under the limit, not under 90 %: still paused
    assert start(1.0) == []  # paused while t1 runs
    finish("t1", 1.5)
    assert start(1.5) == ["t2"]  # nothing runs: one task, whatever the reading
    sample(2.0, 80.0)
    assert start(2.0) == ["t3"]
    ev = [(e[1], e[2], e[5]) for e in d.recorder.events if e[2] in ("throttled", "resumed")]
    assert ev == [(0.5, "throttled", "memory 150 MB of the machine vs limit 100 MB"),
                  (2.0, "resumed", "memory 80 MB of the machine vs limit 100 MB")]


def test_only_a_reading_taken_after_the_attempt_started_counts_against_the_task_cap():
    early, late, small = (SimpleNamespace(started_s=s) for s in (1.0, 5.0, 1.0))
    rss = {10: 500.0, 11: 500.0, 12: 50.0}
    over = over_task_memory([(early, 10), (late, 11), (small, 12), (early, 13)], rss, 5.0, 300.0)
    assert over == [(early, 10, 500.0)]  # late began at the reading; 12 is under; 13 unread


@pytest.mark.parametrize("fraction", [0.0, 1.5])
def test_a_resume_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(ValueError, match="resume_fraction must be in"):
        ResourceLimits(max_memory_mb=1, resume_fraction=fraction)
