"""Which ``module:Class`` policies named by the store may be imported: a journal or a
comparison's plan is data, and a module it names runs code."""

from __future__ import annotations

import sys
from importlib.machinery import PathFinder
from pathlib import Path

from ..store.runs import RunStore

__all__ = ["installed_policy"]


def installed_policy(name: str, store: RunStore) -> bool:
    """Whether the module of ``name`` (``module:Class``) is already imported, or found on
    ``sys.path`` without the current folder and outside the store: a journal is data,
    and a file next to it, or in the folder resume happens to run from, is not code the
    user chose to run."""
    module = name.partition(":")[0]
    if module in sys.modules:
        return True
    here, root = Path.cwd().resolve(), store.path.resolve()
    paths = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != here]
    # each package on the way, found in its parent's folders without running any of it
    for part in module.split("."):
        found = PathFinder.find_spec(part, paths)
        if found is None:
            return False
        places = ([found.origin] if found.origin else []) + list(found.submodule_search_locations or ())
        if not places or any(Path(p).resolve().is_relative_to(root) for p in places):
            return False
        paths = list(found.submodule_search_locations or ())
    return True
