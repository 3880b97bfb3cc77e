"""Loading PKCS#11 modules and opening sessions on their tokens, for signing.pkcs11_sessions.

No caching here: pkcs11_sessions decides which sessions to open and keeps them. python-pkcs11
is imported only inside the functions, so the file-key path works without it.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pkcs11 import Session

MODULE_ENV = "PORTAL_PKCS11_MODULE"
PIN_ENV = "PORTAL_PKCS11_PIN"

# Modules initialised by a parent process before fork(): the child initialises them again.
_reinitialise: set[str] = set()
_loaded_modules: set[str] = set()


class TokenLoginError(PermissionError):
    """The token refused the PIN, or the PIN is missing. Messages never contain the PIN."""


def _open(module_path: str, token_label: str, pin: str | None) -> Session:
    import pkcs11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    library = _lib(module_path)
    labels = [slot.get_token().label for slot in library.get_slots(token_present=True)]
    if token_label not in labels:
        raise LookupError(
            f"no token labelled {token_label!r} in PKCS#11 module {module_path} "
            f"(tokens there: {', '.join(repr(label) for label in labels) or 'none'})"
        )
    try:
        return open_pkcs11_session(
            module_path, token_criteria=TokenCriteria(label=token_label), user_pin=pin
        )
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid):
        raise TokenLoginError(f"wrong PIN for token {token_label!r} (check {PIN_ENV})") from None
    except pkcs11.PinLocked:
        raise TokenLoginError(f"the user PIN of token {token_label!r} is locked") from None
    except pkcs11.PinExpired:
        raise TokenLoginError(f"the user PIN of token {token_label!r} has expired") from None


def _lib(module_path: str) -> Any:
    try:
        import pkcs11
    except ImportError:
        raise ImportError(
            "keys in a PKCS#11 token need python-pkcs11 (pip install python-pkcs11)"
        ) from None
    if not os.path.isfile(module_path):
        raise FileNotFoundError(f"PKCS#11 module {module_path} not found (set {MODULE_ENV})")
    # python-pkcs11 caches the library by this very string: always pass the same one.
    library = pkcs11.lib(module_path)
    if module_path in _reinitialise:
        _reinitialise.discard(module_path)
        # The module reset itself on fork; finalize() fails but clears python-pkcs11's flag.
        with contextlib.suppress(pkcs11.PKCS11Error):
            library.finalize()
        library.initialize()
    _loaded_modules.add(module_path)
    return library


def _close_quietly(session: Session) -> None:
    # Closing a session of a restarted HSM fails; there is nothing left to do then.
    with contextlib.suppress(Exception):
        session.close()
