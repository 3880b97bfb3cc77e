"""The web application and the `portal` command.

The project root goes first on sys.path before anything imports `mailbox`: the standard library
has a module of that name and would otherwise win for installed console scripts and rq workers
started from another directory (DESIGN.md, "The mailbox name").
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if sys.path[:1] != [_ROOT]:
    sys.path.insert(0, _ROOT)
_loaded = sys.modules.get("mailbox")
if _loaded is not None and not str(getattr(_loaded, "__file__", "")).startswith(_ROOT):
    # Something imported the standard library's module first; forget it so that ours loads.
    del sys.modules["mailbox"]

from typing import Any  # noqa: E402  (after the path fix, on purpose)

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # The Flask application is imported only when asked for: `portal verify PATH` checks an
    # export offline and must not pay for (or depend on) the web application.
    if name == "create_app":
        from app.factory import create_app

        return create_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
