"""Analysis of recorded runs: figures per run (:func:`summary`, :func:`agent_load`,
:func:`quality`), statistics with intervals and verdicts, learned durations and plots.

Imported lazily: pandas, scipy and matplotlib load when a figure is first asked for.
"""

from importlib import import_module
from typing import Any

__all__ = ["summary", "agent_load", "quality", "lower_bound", "name_bound"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(import_module(".figures", __name__), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
