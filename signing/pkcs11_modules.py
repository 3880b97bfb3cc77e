"""Loading PKCS#11 modules and opening sessions on their tokens, for signing.pkcs11_sessions;
the settings that name the module and the PIN.

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
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

# Modules initialised by a parent process before fork(): the child initialises them again.
_reinitialise: set[str] = set()
_loaded_modules: set[str] = set()


class TokenLoginError(PermissionError):
    """The token refused the PIN, or the PIN is missing. Messages never contain the PIN."""


def module_from_env() -> str:
    """The module path of PORTAL_PKCS11_MODULE, or SoftHSM2's."""
    return os.environ.get(MODULE_ENV) or DEFAULT_MODULE


def pin_from_env(token_label: str) -> str:
    """The user PIN of PORTAL_PKCS11_PIN; TokenLoginError if it is not set."""
    pin = os.environ.get(PIN_ENV)
    if not pin:
        raise TokenLoginError(f"{PIN_ENV} is not set, so token {token_label!r} cannot be opened")
    return pin


def open_session(module_path: str, token_label: str, pin: str | None) -> Session:
    """A new session on the token labelled `token_label`; logged in if a PIN is given."""
    import pkcs11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    library = load_module(module_path)
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


def load_module(module_path: str) -> Any:
    """python-pkcs11's library object for the module, initialised for this process."""
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


def reinitialise_after_fork() -> None:
    """In a child after fork(): initialise every module loaded so far again before its next use."""
    _reinitialise.update(_loaded_modules)


def close_quietly(session: Session) -> None:
    """Close a session; a session of a restarted HSM fails to close, and nothing is left to do."""
    with contextlib.suppress(Exception):
        session.close()
