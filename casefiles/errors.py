"""The domain's errors, here for the modules of this package (defined in directory.errors)."""

from directory.errors import InvalidInput, NotFound

__all__ = ["InvalidInput", "NotFound"]
