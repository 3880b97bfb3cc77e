"""The `portal` console script.

`portal verify PATH [--ca CA.pem]` checks an export with nothing but the file and this package,
so it is dispatched here, before the rest of the command (the runtime, keys, the database layer)
is imported: on a busy machine that import alone took longer than checking a gigabyte.
Everything else, `portal verify --help` included, goes to app/cli.py.
"""

from __future__ import annotations

import sys

import app as _app  # noqa: F401  (puts the project root first on sys.path; see app/__init__.py)


def offline_arguments(args: list[str]) -> tuple[str, str | None] | None:
    """(PATH, CA or None) when `args` (after `verify`) name one export; None otherwise."""
    from app.export_verify import is_package_path

    positional: list[str] = []
    ca: str | None = None
    rest = iter(args)
    for arg in rest:
        if arg == "--ca":
            ca = next(rest, None)
            if ca is None:
                return None  # click says what is missing
        elif arg.startswith("--ca="):
            ca = arg.removeprefix("--ca=")
        elif arg.startswith("-"):
            return None  # --help and anything else: the full command
        else:
            positional.append(arg)
    return (positional[0], ca) if is_package_path(tuple(positional)) else None


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["verify"] and (offline := offline_arguments(args[1:])) is not None:
        from app.export_verify import verify_package

        verify_package(*offline)
    from app.cli import main as full

    full()
