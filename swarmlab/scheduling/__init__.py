"""Scheduling: which agent a ready task is placed on, and when idle agents steal."""

from .base import AgentSlot, Eligible, Policy, PolicyState, RankedPolicy, RankedState
from .heft import HEFT
from .metrics import Placements, SchedulingMetrics
from .policies import CapabilityBased, Dynamic, LeastLoaded, PriorityBased, RoundRobin, WorkStealing
from .registry import POLICIES, policy_names, register_policy, resolve_policy
from .scheduler import AGING_S, SchedulingAlgorithm, TaskScheduler
from .stealing import STEAL_MAX_PRIORITY, MostLoadedFirst, Stealing, StealingHost, StealingState, WaitingTask

__all__ = [
    "AGING_S", "AgentSlot", "CapabilityBased", "Dynamic", "Eligible", "HEFT", "LeastLoaded",
    "MostLoadedFirst", "POLICIES", "Placements", "Policy", "PolicyState", "PriorityBased", "RankedPolicy",
    "RankedState", "RoundRobin", "STEAL_MAX_PRIORITY", "SchedulingAlgorithm", "SchedulingMetrics", "Stealing",
    "StealingHost", "StealingState", "TaskScheduler", "WaitingTask", "WorkStealing", "policy_names",
    "register_policy", "resolve_policy",
]
