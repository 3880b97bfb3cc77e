"""Errors a person can act on, shared by every domain package; views turn them into a 4xx."""

from __future__ import annotations


class InvalidInput(ValueError):
    """Input that cannot be accepted; `field` names the form field or API member at fault."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        # `message` is an English msgid with %(name)s placeholders; the web and API layers
        # translate it (pybabel extracts InvalidInput's second argument).
        super().__init__(message % params if params else message)
        self.field = field
        self.message = message
        self.params = params


class NotFound(LookupError):
    """Absent, or not visible to this actor (the two are not told apart, on purpose)."""
