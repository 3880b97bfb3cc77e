"""Small helpers shared by the blueprints."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort

from casefiles.errors import NotFound
from directory.actors import AccessDenied

F = TypeVar("F", bound=Callable[..., Any])


def not_found_on_denied(view: F) -> F:
    """What an actor may not see answers 404, exactly like what does not exist."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except (NotFound, AccessDenied):
            abort(404)

    return wrapper  # type: ignore[return-value]
