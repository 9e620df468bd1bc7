"""Duration models for :func:`swarmlab.simulate`: how long an attempt lasts on virtual time.

A model is any ``f(task, agent, attempt, rng) -> seconds``; ``rng`` is the run's seeded
``random.Random``, so a model that draws from it keeps the run deterministic.

>>> import swarmlab
>>> rec = swarmlab.simulate([swarmlab.Task(None, estimate_s=1.0)], durations=swarmlab.durations.lognormal(0.25))
>>> rec.final()["status"].tolist()
['completed']
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..checks import above_zero
from ..model import Agent, Task

__all__ = ["DurationModel", "lognormal", "pareto", "per_kind"]

DurationModel = Callable[[Task, Agent, int, random.Random], float]


def lognormal(sigma: float = 0.25) -> DurationModel:
    """``estimate_s / speed`` times lognormal noise of median 1 and spread ``sigma``."""
    above_zero(sigma, "lognormal sigma")
    return lambda task, agent, attempt, rng: task.estimate_s / agent.speed * rng.lognormvariate(0.0, sigma)


def pareto(alpha: float = 2.0) -> DurationModel:
    """``estimate_s / speed`` times Pareto noise of mean 1 (``alpha`` > 1): heavy tails."""
    above_zero(alpha - 1.0, "pareto alpha - 1 (alpha must exceed 1)")
    scale = (alpha - 1.0) / alpha
    return lambda task, agent, attempt, rng: task.estimate_s / agent.speed * scale * rng.paretovariate(alpha)


def per_kind(models: dict[str | None, DurationModel]) -> DurationModel:
    """The model of the task's ``kind`` ("io", "cpu" or None); ``estimate_s / speed``
    for a kind not given."""
    def model(task: Task, agent: Agent, attempt: int, rng: random.Random) -> float:
        m = models.get(task.kind)
        return m(task, agent, attempt, rng) if m is not None else task.estimate_s / agent.speed
    return model
