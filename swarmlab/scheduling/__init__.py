"""Scheduling: which agent a ready task is placed on, and when idle agents steal."""

from .base import AgentSlot, Eligible, Policy
from .policies import (
    POLICIES, CapabilityBased, Dynamic, LeastLoaded, PriorityBased, RoundRobin, WorkStealing,
    resolve_policy,
)
from .scheduler import SchedulingAlgorithm, SchedulingMetrics, TaskScheduler

__all__ = [
    "AgentSlot", "Eligible", "Policy", "POLICIES", "RoundRobin", "LeastLoaded", "CapabilityBased",
    "PriorityBased", "Dynamic", "WorkStealing", "resolve_policy", "SchedulingAlgorithm",
    "SchedulingMetrics", "TaskScheduler",
]
