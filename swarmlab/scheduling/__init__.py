"""Scheduling policies: which agent a ready task is placed on."""

from .base import AgentSlot, Policy
from .policies import LeastLoaded, resolve_policy

__all__ = ["AgentSlot", "Policy", "LeastLoaded", "resolve_policy"]
