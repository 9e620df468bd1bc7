"""Notebook panels: :class:`ExperimentPanel` and :class:`LiveMonitor`.

The only package that imports ipywidgets (``pip install 'swarmlab[notebook]'``). Both
panels work on the kernel's own event loop: a run is scheduled there with
``asyncio.ensure_future``, so the notebook stays responsive and Stop works while it runs,
and the widgets are updated by trait assignment from that loop a few times a second, from
what the run's recorder gathered since the last look. Nothing writes ``with output:``
from another thread (ipykernel 7 drops such output). Every figure shown is computed from
recorded events and attempts.

One concept per module:

- :mod:`~swarmlab.ui.widgets.render`: ipywidgets itself, :class:`View` (how a view shows
  in a front end), figures as PNG for an Image widget;
- :mod:`~swarmlab.ui.widgets.polling`: :class:`Polling`, the base of the views that
  refresh themselves from the running loop (the monitor and the dashboard page);
- :mod:`~swarmlab.ui.widgets.monitor`: :class:`LiveMonitor`, one run live;
- :mod:`~swarmlab.ui.widgets.tables`: the comparison's table and verdicts in HTML;
- :mod:`~swarmlab.ui.widgets.panel`: :class:`ExperimentPanel`, suites run and compared.
"""

from __future__ import annotations

from typing import Any

from ... import backends
from .monitor import LiveMonitor
from .panel import ExperimentPanel
from .polling import DRAW_SHARE, Polling
from .render import View

__all__ = ["DRAW_SHARE", "MODES", "ExperimentPanel", "LiveMonitor", "Polling", "View"]


def __getattr__(name: str) -> Any:
    # MODES, the execution modes the panel offers for real runs, is read from the backend
    # registry when asked for, so a backend registered after this import is in it too.
    if name == "MODES":
        return tuple(backends.names())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
