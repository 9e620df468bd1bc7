"""One registry of placement policies: the seven built-in algorithms and any a user registers.

Everything that takes an algorithm (``ParallelExecutor``, ``simulate``,
``TaskScheduler``, ``compare``, the panel, the CLI) resolves it here, from a name, a
:class:`SchedulingAlgorithm`, a :class:`Policy` class or instance, a ``TaskScheduler``, or
``"module:Class"`` (a policy class importable from a module, for the command line).
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Policy
from .heft import HEFT
from .policies import CapabilityBased, Dynamic, LeastLoaded, PriorityBased, RoundRobin, WorkStealing

__all__ = ["POLICIES", "register_policy", "policy_names", "resolve_policy"]

#: Name -> policy class (or instance), in the order the panel and the CLI list them.
POLICIES: dict[str, type[Policy] | Policy] = {
    p.name: p for p in (RoundRobin, LeastLoaded, CapabilityBased, PriorityBased, Dynamic, WorkStealing, HEFT)
}


def register_policy(policy: type[Policy] | Policy) -> type[Policy] | Policy:
    """Make a policy class (or a configured instance) known by its ``name`` everywhere
    algorithms are named. Usable as a class decorator. Re-registering a name replaces it;
    the built-in names cannot be taken."""
    ok = isinstance(policy, Policy) or (isinstance(policy, type) and issubclass(policy, Policy))
    name = getattr(policy, "name", None)
    if not ok:
        raise ConfigError(f"register_policy takes a swarmlab.Policy subclass or instance; got {policy!r}")
    if not isinstance(name, str) or not name or name == Policy.name:
        raise ConfigError(f"a registered policy needs a name of its own (a class attribute `name`); "
                          f"{policy!r} has {name!r}")
    builtin = POLICIES.get(name)
    if builtin is not None and getattr(builtin, "__module__", "").startswith("swarmlab.scheduling.") \
            and builtin is not policy:
        raise ConfigError(f"{name!r} is a built-in algorithm; give your policy another name")
    POLICIES[name] = policy
    return policy


def policy_names() -> list[str]:
    """Every registered name, built-in ones first."""
    return list(POLICIES)


def _from_path(spec: str) -> Policy:
    module, _, attr = spec.partition(":")
    if not (all(part.isidentifier() for part in module.split(".")) and attr.isidentifier()):
        raise ConfigError(f"cannot load the policy {spec!r}: give 'module:Class', an absolute module path "
                          "(dotted names, no leading dot) and a class name, e.g. 'mypolicies:Greedy'")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot load the policy {spec!r} ({e}); give 'module:Class' with the module "
                          "importable from here (on PYTHONPATH or the current folder)") from None
    if isinstance(obj, type) and issubclass(obj, Policy):
        return obj()
    if isinstance(obj, Policy):
        return obj
    raise ConfigError(f"{spec!r} is {obj!r}, not a swarmlab.Policy subclass or instance")


def resolve_policy(scheduler: object) -> Policy:
    """A policy from None (least loaded), a registered name, an enum, ``"module:Class"``,
    a Policy class or instance, or a TaskScheduler."""
    if scheduler is None:
        return LeastLoaded()
    if isinstance(scheduler, Policy):
        return scheduler
    policy = getattr(scheduler, "policy", None)
    if isinstance(policy, Policy):
        return policy
    if isinstance(scheduler, type) and issubclass(scheduler, Policy):
        return scheduler()
    name = getattr(scheduler, "value", scheduler)
    if isinstance(name, str):
        found = POLICIES.get(name)
        if found is not None:
            return found if isinstance(found, Policy) else found()
        if ":" in name:
            return _from_path(name)
    allowed = ", ".join(repr(n) for n in POLICIES)
    raise ConfigError(
        f"the scheduler must be None, a TaskScheduler, a Policy, 'module:Class' or one of {allowed}; "
        f"got {scheduler!r}"
    )
