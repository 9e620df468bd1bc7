"""Runners: how an agent executes one objective.

A runner is called as ``await runner.run(objective, agent, strategy=..., mode=...,
attempt=...)`` inside a swarmlab task and returns a dict that becomes the task's value;
raising fails the attempt (retried if the suite allows).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..backends import commands
from ..errors import CommandError, ConfigError
from ..model import Agent, AgentType
from ..scope import attempt_now, report
from .config import STRATEGY_CAPABILITIES, CoordinationMode, StrategyType

__all__ = ["SimulatedAgentRunner", "CommandRunner", "CallableRunner", "SimulatedFailure", "runner_from_spec"]


class SimulatedFailure(RuntimeError):
    """A failure drawn by :class:`SimulatedAgentRunner`'s failure rate."""


#: Seconds an objective takes a matching agent of speed 1, by strategy (the model's base).
BASE_S: dict[StrategyType, float] = {
    StrategyType.AUTO: 20.0, StrategyType.RESEARCH: 30.0, StrategyType.DEVELOPMENT: 45.0,
    StrategyType.ANALYSIS: 35.0, StrategyType.TESTING: 15.0, StrategyType.OPTIMIZATION: 40.0,
    StrategyType.MAINTENANCE: 20.0,
}
#: Coordination overhead each mode adds to a modelled duration.
MODE_OVERHEAD: dict[CoordinationMode, float] = {
    CoordinationMode.CENTRALIZED: 1.05, CoordinationMode.DISTRIBUTED: 1.10,
    CoordinationMode.HIERARCHICAL: 1.08, CoordinationMode.MESH: 1.15, CoordinationMode.HYBRID: 1.10,
}
#: How much slower an agent without the strategy's capability is.
MISMATCH_FACTOR = 1.5
#: Coordinators plan rather than execute: slower on objectives themselves.
TYPE_FACTOR: dict[AgentType, float] = {AgentType.COORDINATOR: 1.3}
#: Spread of the lognormal noise on a modelled duration.
NOISE_SIGMA = 0.25


class SimulatedAgentRunner:
    """Stands in for real agents: sleeps for a modelled duration, scaled to wall time.

    modelled seconds = BASE_S[strategy] x MODE_OVERHEAD[mode] x TYPE_FACTOR[agent type]
    x (MISMATCH_FACTOR if the agent lacks the strategy's capability) / agent.speed
    x lognormal(0, NOISE_SIGMA), drawn from a generator seeded by (seed, objective,
    agent, attempt). The run sleeps ``modelled x time_scale`` seconds. With probability
    ``failure_rate`` the attempt raises :class:`SimulatedFailure`. The value says
    ``simulated: True`` and carries ``modelled_s``, so no modelled figure passes for a
    measured one.
    """

    simulated = True

    def __init__(self, seed: int = 0, *, time_scale: float = 0.01, failure_rate: float = 0.0) -> None:
        if isinstance(time_scale, bool) or not isinstance(time_scale, (int, float)) or not (
                time_scale >= 0 and math.isfinite(time_scale)):
            raise ConfigError(f"SimulatedAgentRunner time_scale must be a number >= 0; got {time_scale!r}")
        if isinstance(failure_rate, bool) or not isinstance(failure_rate, (int, float)) or not 0 <= failure_rate <= 1:
            raise ConfigError(f"SimulatedAgentRunner failure_rate must be in [0, 1]; got {failure_rate!r}")
        self.seed, self.time_scale, self.failure_rate = seed, float(time_scale), float(failure_rate)

    def spec(self) -> dict[str, Any]:
        """What rebuilds this runner (for resume)."""
        return {"type": "simulated", "seed": self.seed, "time_scale": self.time_scale,
                "failure_rate": self.failure_rate}

    def modelled_s(self, objective: str, agent: Agent, strategy: StrategyType, mode: CoordinationMode,
                   rng: random.Random) -> float:
        s = BASE_S[strategy] * MODE_OVERHEAD[mode] * TYPE_FACTOR.get(agent.type, 1.0) / agent.speed
        if not STRATEGY_CAPABILITIES[strategy] <= agent.capabilities:
            s *= MISMATCH_FACTOR
        return s * rng.lognormvariate(0.0, NOISE_SIGMA)

    async def run(self, objective: str, agent: Agent, *, strategy: StrategyType = StrategyType.AUTO,
                  mode: CoordinationMode = CoordinationMode.CENTRALIZED, attempt: int = 1,
                  timeout: float | None = None) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}|{objective}|{agent.id}|{attempt}")
        modelled = self.modelled_s(objective, agent, strategy, mode, rng)
        await asyncio.sleep(modelled * self.time_scale)
        if rng.random() < self.failure_rate:
            raise SimulatedFailure(f"simulated failure of {agent.id} on {objective!r} (failure_rate {self.failure_rate})")
        return {"objective": objective, "agent": agent.id, "strategy": strategy.value,
                "simulated": True, "modelled_s": modelled}


class CommandRunner:
    """Runs a real command per objective: an argv list, never a shell.

    Placeholders ``{objective}``, ``{strategy}``, ``{mode}``, ``{agent}``,
    ``{agent_type}`` and ``{attempt}`` are filled in each argument. The process runs in a
    session of its own; on timeout or cancellation the whole process group is killed,
    and so it is when the swarmlab process dies, even by ``kill -9`` (the keeper of
    :mod:`swarmlab.backends.reaper`; on Linux the kernel also kills the command itself), so a
    resumed suite never finds an earlier command still at work.
    A zero exit returns ``exit_code``, ``stdout`` and ``stderr`` (each kept to
    ``max_output`` bytes); any other exit raises :class:`~swarmlab.errors.CommandError`
    carrying them.

    A command reports what it used by printing a line of JSON on stdout,
    ``{"swarmlab": {"tokens": 1234, "cost_usd": 0.02}}``: every such line (read whole,
    however long the output) is recorded like ``swarmlab.report()`` as it is read, summed
    in the attempt's row whatever the exit, so a run's budgets and a comparison's cost
    count what real agents spent (and a journaled run keeps what a command a kill cut
    short had printed: :func:`swarmlab.resume`). Other lines are output as usual.
    """

    simulated = False

    def __init__(self, argv_template: Sequence[str], *, cwd: str | None = None,
                 env: dict[str, str] | None = None, max_output: int = 64 * 1024) -> None:
        if isinstance(argv_template, str) or not argv_template or not all(isinstance(a, str) for a in argv_template):
            raise ConfigError(
                f"CommandRunner takes an argv list of str, never a shell string; got {argv_template!r}"
            )
        self.argv_template = list(argv_template)
        self.cwd, self.env, self.max_output = cwd, env, max_output

    def spec(self) -> dict[str, Any]:
        """What rebuilds this runner (for resume)."""
        return {"type": "command", "argv_template": self.argv_template, "cwd": self.cwd, "env": self.env,
                "max_output": self.max_output}

    def argv(self, **fields: Any) -> list[str]:
        try:
            return [a.format(**fields) for a in self.argv_template]
        except (KeyError, IndexError) as e:
            raise ConfigError(
                f"CommandRunner placeholder {e} is unknown; use {{objective}}, {{strategy}}, {{mode}}, "
                "{agent}, {agent_type}, {attempt}"
            ) from None

    async def run(self, objective: str, agent: Agent, *, strategy: StrategyType = StrategyType.AUTO,
                  mode: CoordinationMode = CoordinationMode.CENTRALIZED, attempt: int = 1,
                  timeout: float | None = None) -> dict[str, Any]:
        argv = self.argv(objective=objective, strategy=strategy.value, mode=mode.value, agent=agent.id,
                         agent_type=agent.type.value, attempt=attempt)
        env = None if self.env is None else {**os.environ, **self.env}
        # the child of the attempt it runs in (swarmlab.acommand's mechanism): killed with it
        proc, child = await commands.aspawn(
            argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL, cwd=self.cwd, env=env)
        try:  # each usage line is reported as it is read: what it spent before a stop or a kill was spent
            out, err, code = await asyncio.wait_for(self._collect(proc), timeout)
        except BaseException:  # timeout, cancellation: nothing of the command may survive
            child.end()
            await proc.wait()
            raise
        child.end()  # what it left in its group goes with it
        result = {"objective": objective, "agent": agent.id, "strategy": strategy.value, "exit_code": code,
                  "stdout": out, "stderr": err, "simulated": False}
        if code != 0:
            raise CommandError(argv, code, out, err)
        return result

    async def _collect(self, proc) -> tuple[str, str, int]:
        out, err = await asyncio.gather(self._read(proc.stdout, True), self._read(proc.stderr))
        return out, err, await proc.wait()

    async def _read(self, stream, usage: bool = False) -> str:
        """The first ``max_output`` bytes; the rest is read and counted, not kept. With
        ``usage``: each usage line (see the class docstring) is reported as it is read
        (a run that journals has it on disk within a second, though the command runs on)."""
        kept, dropped, line, skip = bytearray(), 0, b"", False
        while chunk := await stream.read(65536):
            room = self.max_output - len(kept)
            kept += chunk[:room]
            dropped += max(0, len(chunk) - room)
            if usage:
                *whole, line = (line + chunk).split(b"\n")
                for raw in whole:
                    if not skip:
                        _usage_line(raw)
                    skip = False
                if len(line) > MAX_USAGE_LINE:  # not a usage line: skip it to its end, keep no more of it
                    line, skip = b"", True
        if usage and line and not skip:
            _usage_line(line)
        text = kept.decode(errors="replace")
        return text + (f"\n[... {dropped} more bytes not kept]" if dropped else "")


class CallableRunner:
    """Any sync or async callable ``fn(objective, agent) -> output``; the output is kept
    under ``output``. A sync callable runs in a thread so the loop stays free."""

    simulated = False

    def __init__(self, fn: Callable[[str, Agent], Any]) -> None:
        if not callable(fn):
            raise ConfigError(f"CallableRunner takes a callable (objective, agent) -> output; got {fn!r}")
        self.fn = fn

    def spec(self) -> None:
        """A function cannot be described without pickle: suites it runs cannot be resumed."""
        return None

    async def run(self, objective: str, agent: Agent, *, strategy: StrategyType = StrategyType.AUTO,
                  mode: CoordinationMode = CoordinationMode.CENTRALIZED, attempt: int = 1,
                  timeout: float | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        if inspect.iscoroutinefunction(self.fn):
            out = await self.fn(objective, agent)
        else:
            out = await asyncio.to_thread(self.fn, objective, agent)
        return {"objective": objective, "agent": agent.id, "strategy": strategy.value, "output": out,
                "simulated": False, "call_s": time.perf_counter() - t0}


def runner_from_spec(spec: dict[str, Any]) -> Any:
    """The runner a :meth:`spec` describes."""
    kind = spec.get("type")
    if kind == "simulated":
        return SimulatedAgentRunner(spec["seed"], time_scale=spec["time_scale"], failure_rate=spec["failure_rate"])
    if kind == "command":
        return CommandRunner(spec["argv_template"], cwd=spec["cwd"], env=spec["env"], max_output=spec["max_output"])
    raise ConfigError(f"no runner of type {kind!r} can be rebuilt; a suite run by it cannot be resumed")


#: How a command's usage line begins (after spaces): ``{"swarmlab": {...}}``.
USAGE_PREFIX = b'{"swarmlab"'
#: Bytes of one line kept while looking for usage lines: a usage line is a few hundred
#: bytes; a longer line is ordinary output and is not kept whole.
MAX_USAGE_LINE = 64 * 1024


def _usage_line(raw: bytes) -> None:
    """Report the numbers of one usage line in the attempt the command runs in (none
    outside an attempt); any other line is left alone. A usage line whose values are not
    numbers by name is a ConfigError naming it."""
    raw = raw.strip()
    if not raw.startswith(USAGE_PREFIX):
        return
    try:
        got = json.loads(raw)["swarmlab"]
    except (ValueError, KeyError, TypeError):
        got = None
    if not isinstance(got, dict) or not all(isinstance(k, str) and isinstance(v, (int, float))
                                            and not isinstance(v, bool) for k, v in got.items()):
        raise ConfigError(f"a command printed a usage line that is not {{\"swarmlab\": {{name: number, ...}}}}: "
                          f"{raw[:200]!r}; print one JSON object per line, e.g. "
                          '{"swarmlab": {"tokens": 1234, "cost_usd": 0.02}}')
    if got and attempt_now() is not None:
        report(**{k: float(v) for k, v in got.items()})
