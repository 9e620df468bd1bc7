"""Where task bodies run. Each backend runs attempts the executor hands it and reports
every outcome back on the executor's event loop, exactly once per attempt."""

from .base import Backend

__all__ = ["Backend"]
