"""``swarmlab dashboard``: the page of :mod:`swarmlab.ui.dashboard` served by Voilà.

Voilà (``pip install 'swarmlab[dashboard]'``) runs the template notebook shipped with the
package (``dashboard.ipynb``, one cell: ``Dashboard.from_env()``) in a kernel of its own for
each visitor and serves its widgets as a web page; the store's path reaches the kernel
through :data:`~swarmlab.ui.dashboard.STORE_ENV`. The server listens on ``host`` (loopback by
default) and asks for a token.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailable

__all__ = ["dashboard_app", "NOTEBOOK", "DEFAULT_PORT"]

#: The template notebook Voilà renders.
NOTEBOOK = Path(__file__).with_name("dashboard.ipynb")
#: Voilà's own default port; the next free one is taken when it is in use.
DEFAULT_PORT = 8866
_STORE_ENV = "SWARMLAB_DASHBOARD_STORE"  # swarmlab.ui.dashboard.STORE_ENV, without importing the page here


def dashboard_app(store: str | Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                  token: str | None = None, on_ready: Callable[[str], None] | None = None) -> Any:
    """A Voilà application serving the dashboard of ``store``; its ``start()`` serves until
    interrupted (Ctrl-C, SIGTERM), then shuts the page kernels down.

    ``on_ready(url)`` is called once the server listens, with the page's address and
    token (``token``, or a random one).

    Raises
    ------
    BackendUnavailable
        Voilà is not installed.
    """
    try:
        from voila.app import Voila
    except ImportError as exc:
        raise BackendUnavailable("swarmlab dashboard needs Voilà: pip install 'swarmlab[dashboard]'") from exc
    token = token or secrets.token_urlsafe(24)
    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else f"[{host}]" if ":" in host else host

    class DashboardApp(Voila):
        @property
        def display_url(self) -> str:
            # the address Voilà logs once it listens: the working one, token included (its
            # own masks a token it was given as "...", an address that leads to a login page)
            return f"http://{shown}:{self.port}/?token={token}"

        def launch_browser(self) -> None:  # Voilà calls this once it listens: say where, open nothing
            if on_ready is not None:
                on_ready(self.display_url)

    os.environ[_STORE_ENV] = str(Path(store).resolve())  # the page kernels inherit it
    app = DashboardApp()
    app.initialize([str(NOTEBOOK), f"--Voila.ip={host}", f"--Voila.port={port}", f"--Voila.token={token}",
                    "--Voila.open_browser=True"])  # (that is: call launch_browser above)
    return app
