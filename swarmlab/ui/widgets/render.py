"""What every view shares: ipywidgets itself, how a view shows in a front end, and
figures turned into pictures.

The one place ipywidgets is imported (``pip install 'swarmlab[notebook]'``): the other
modules of :mod:`swarmlab.ui.widgets`, and the dashboard page, take ``W`` from here, so
a missing ipywidgets is said once, with the install command.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from ...errors import BackendUnavailable

try:
    import ipywidgets as W
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise BackendUnavailable("swarmlab.ui.widgets needs ipywidgets: pip install 'swarmlab[notebook]'") from exc

__all__ = ["WIDE", "View", "W", "figure_png", "hidden_image", "show_png"]

#: Controls' style: the description in full (ipywidgets cuts it to a fixed width otherwise).
WIDE = {"description_width": "initial"}


class View:
    """A view built of widgets, shown through its ``widget`` (set by the subclass).

    In a notebook or on a Voilà page it displays as that widget; as plain text (a
    terminal, a log, a test) it is the view's short ``repr``, not the widget tree's.
    """

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # IPython's display protocol: the widget's own bundle, the view's repr as its text
        data = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = repr(self)
        return data


def figure_png(draw: Callable[[Any], None], size: tuple[float, float]) -> bytes:
    """Call ``draw(fig)`` on a fresh matplotlib Figure of ``size`` inches and return the
    figure as PNG bytes, for an Image widget.

    The Figure is made without pyplot, so no global figure state is touched and nothing
    is displayed twice by a notebook's inline backend.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=80, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def hidden_image() -> Any:
    """A PNG Image widget kept out of the page until it has a picture (:func:`show_png`):
    an empty one shows a broken-image icon."""
    return W.Image(format="png", layout=W.Layout(max_width="100%", display="none"))


def show_png(image: Any, data: bytes | None) -> None:
    """Show the PNG ``data`` in ``image``, or hide the image when there is none."""
    image.value = data or b""
    image.layout.display = None if data else "none"
