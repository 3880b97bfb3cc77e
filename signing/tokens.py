"""Seal keys that live inside a PKCS#11 token: an HSM in production, SoftHSM2 in tests.

The private key never leaves the token; the portal holds only a reference to it (module, token
label, key label), the PIN and the key's certificate. python-pkcs11 is imported only when a token
is used, so the file-key path works without it.

Sessions. PKCS#11 login is a state of the whole process on a token: every session of the
process is logged in once any one of them is, a second login fails with UserAlreadyLoggedIn,
and logging out (closing a logged-in session) logs out all of them. So per (module, token) the
process keeps one *login session*, opened with the PIN, and each thread works on a session of
its own, opened without PIN, that uses this login (PKCS#11 sessions must not be used by two
threads at once). Those sessions are cached, so sealing many PDFs costs one login, not one per
PDF; sessions of threads that ended are closed when the next thread opens one, the rest at
interpreter exit. A child process after fork() starts afresh (it must not use the parent's
handles) and re-initialises the module.

Calls into the module are serialised by one lock of the process. python-pkcs11 initialises a
module without locking arguments, which tells it the application never calls it from two threads
at once; SoftHSM2 then switches its own mutexes off. A signature in the token takes ~0.1 ms,
the PDF work around it ~15 ms, so the lock costs nothing that matters.

Because a token is logged in only once, a PIN other than the one this process logged in with
is refused (TokenLoginError), even though it is never sent to the token: a wrong PIN must not
ride on someone else's login. No message here ever contains a PIN.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from signing.keys import certificate_fingerprint

if TYPE_CHECKING:
    from pkcs11 import Session
    from pyhanko.sign.pkcs11 import PKCS11Signer

MODULE_ENV = "PORTAL_PKCS11_MODULE"
PIN_ENV = "PORTAL_PKCS11_PIN"
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

_T = TypeVar("_T")

# Errors after which a cached session is worth one fresh try: the HSM restarted, the token was
# re-inserted, someone logged the process out. Named, because pkcs11 is imported lazily.
_STALE_SESSION_ERRORS = frozenset(
    {
        "SessionHandleInvalid",
        "SessionClosed",
        "UserNotLoggedIn",
        "TokenNotPresent",
        "DeviceRemoved",
        "ObjectHandleInvalid",
        "KeyHandleInvalid",
    }
)


class TokenLoginError(PermissionError):
    """The token refused the PIN, or the PIN is missing. Messages never contain the PIN."""


@dataclass(frozen=True)
class Pkcs11SealKey:
    """A seal key inside a PKCS#11 token, with its certificate and the chain up to the root."""

    module_path: str
    token_label: str
    key_label: str
    pin: str = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def key_id(self) -> str:
        return certificate_fingerprint(self.certificate)


# --- operations used by signatures.py, pades.py and authority_keys.py ----------------------


def sign_with_token(key: Pkcs11SealKey, data: bytes) -> bytes:
    """Sign `data` with ECDSA P-256 / SHA-256 inside the token; return a DER signature."""
    _require_p256(key.certificate)
    digest = hashlib.sha256(data).digest()

    def action(state: _ThreadSession) -> bytes:
        from pkcs11 import Mechanism

        # Plain ECDSA over our own digest: not every token offers ECDSA_SHA256 (SoftHSM2 here
        # does not), every EC token offers ECDSA.
        handle = state.private_key(key.key_label)
        with _state.lock:
            raw = handle.sign(digest, mechanism=Mechanism.ECDSA)
        half = len(raw) // 2  # PKCS#11 gives r || s; verifiers expect DER SEQUENCE {r, s}
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    return _with_session(key, action)


def with_pdf_signer(key: Pkcs11SealKey, action: Callable[[PKCS11Signer], _T]) -> _T:
    """Run `action` with pyHanko's PKCS#11 signer for `key` (cached per thread session).

    `action` may run twice if the first try meets a stale session, so it must start from the
    input again (pades.py makes a new PDF writer inside it).
    """
    return _with_session(key, lambda state: action(state.pdf_signer(key)))


def check_key(key: Pkcs11SealKey) -> None:
    """Log in, find the private key and make sure the certificate belongs to it."""

    def action(state: _ThreadSession) -> None:
        state.private_key(key.key_label)
        point = public_point(state.session, key.key_label)
        if point is not None and point != _certificate_point(key.certificate):
            raise ValueError(
                f"the certificate {key.certificate.subject.rfc4514_string()} does not belong to "
                f"key {key.key_label!r} in token {key.token_label!r}"
            )

    _with_session(key, action)


def read_token_certificate(
    module_path: str, token_label: str, pin: str, label: str
) -> x509.Certificate:
    """Read the certificate stored in the token under `label`."""

    def action(state: _ThreadSession) -> x509.Certificate:
        from pkcs11 import Attribute, ObjectClass

        with _state.lock:
            found = list(
                state.session.get_objects(
                    {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}
                )
            )
            value = bytes(found[0][Attribute.VALUE]) if len(found) == 1 else b""
        if not found:
            raise LookupError(
                f"no certificate labelled {label!r} in token {token_label!r}: store it in the "
                "token or pass the certificate"
            )
        if len(found) > 1:
            raise LookupError(f"{len(found)} certificates labelled {label!r} in {token_label!r}")
        return x509.load_der_x509_certificate(value)

    probe = _Reference(module_path, token_label, pin)
    return _with_session(probe, action)


@contextmanager
def read_write_session(module_path: str, token_label: str, pin: str) -> Iterator[Session]:
    """A short-lived read/write session (to create objects), using the process's login.

    The module lock is held throughout: use it for a few calls, not for long work.
    """
    _thread_session(_Reference(module_path, token_label, pin))  # log in, or check the PIN
    with _state.lock:
        session = _lib(module_path).get_token(token_label=token_label).open(rw=True)
        try:
            yield session
        finally:
            _close_quietly(session)


def public_point(session: Session, label: str) -> bytes | None:
    """The uncompressed EC point of the public key object `label`, or None if there is none."""
    from pkcs11 import Attribute, ObjectClass

    with _state.lock:
        found = list(
            session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
        )
        if len(found) != 1:
            return None
        value = bytes(found[0][Attribute.EC_POINT])
    return unwrap_ec_point(value)


def unwrap_ec_point(value: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the point; a few tokens give the bare point."""
    if len(value) == 65 and value[0] == 0x04:
        return value
    return bytes(asn1_core.OctetString.load(value).native)


def close_token_sessions() -> None:
    """Close every cached session and log out (at interpreter exit; tests use it to start over).

    Not for use while other threads are signing: their sessions close under them.
    """
    global _state
    old = _state
    with old.lock:
        _state = _State()
        for thread_state in old.threads:
            _close_quietly(thread_state.session)
        for login in old.logins.values():
            _close_quietly(login.session)


def module_from_env() -> str:
    return os.environ.get(MODULE_ENV) or DEFAULT_MODULE


def pin_from_env(token_label: str) -> str:
    pin = os.environ.get(PIN_ENV)
    if not pin:
        raise TokenLoginError(f"{PIN_ENV} is not set, so token {token_label!r} cannot be opened")
    return pin


# --- the session cache ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Reference:
    """What opening a session needs: module, token, PIN (a Pkcs11SealKey is one too)."""

    module_path: str
    token_label: str
    pin: str = field(repr=False)


class _Login:
    """The one logged-in session of this process on a token."""

    def __init__(self, session: Session, pin: str) -> None:
        self.session = session
        self._pin_mac = _pin_mac(pin)  # to compare later PINs without keeping this one

    def accepts(self, pin: str) -> bool:
        return hmac.compare_digest(self._pin_mac, _pin_mac(pin))


class _ThreadSession:
    """One thread's session on a token, with the key handles and signers found through it."""

    def __init__(self, session: Session, login: _Login, key: tuple[str, str]) -> None:
        self.session = session
        self.login = login
        self.key = key
        self.token_label = key[1]
        self.thread = threading.current_thread()
        self._keys: dict[str, Any] = {}
        self._signers: dict[tuple[str, str, tuple[str, ...]], PKCS11Signer] = {}

    def private_key(self, label: str) -> Any:
        if label not in self._keys:
            from pkcs11 import Attribute, ObjectClass

            with _state.lock:
                found = list(
                    self.session.get_objects(
                        {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
                    )
                )
            if not found:
                raise LookupError(
                    f"no private key labelled {label!r} in token {self.token_label!r}"
                )
            if len(found) > 1:
                raise LookupError(
                    f"{len(found)} private keys labelled {label!r} in token "
                    f"{self.token_label!r}: the label must name one key"
                )
            self._keys[label] = found[0]
        return self._keys[label]

    def pdf_signer(self, key: Pkcs11SealKey) -> PKCS11Signer:
        cache_key = (
            key.key_label,
            key.key_id,
            tuple(certificate_fingerprint(c) for c in key.chain),
        )
        signer = self._signers.get(cache_key)
        if signer is None:
            signer = _signer_class()(
                self.session,
                self.private_key(key.key_label),  # found by us: readable LookupErrors
                key_label=key.key_label,
                signing_cert=_to_asn1(key.certificate),
                ca_chain=[_to_asn1(c) for c in key.chain],
                other_certs_to_pull=(),  # the chain is given; nothing else to read
                # The CA certificate travels in the CMS, as with file keys (see pades.py).
                embed_roots=True,
                # EC: pyHanko hashes, the token does plain ECDSA (SoftHSM2 offers no
                # ECDSA_SHA256); RSA tokens sign with the combined mechanism.
                use_raw_mechanism=isinstance(
                    key.certificate.public_key(), ec.EllipticCurvePublicKey
                ),
            )
            # Load now, synchronously: pyHanko would otherwise do it inside the first event
            # loop, and a failure there would leave it waiting on that dead loop next time.
            _ = signer.signing_cert
            self._signers[cache_key] = signer
        return signer


_SIGNER_CLASS: type[PKCS11Signer] | None = None


def _signer_class() -> type[PKCS11Signer]:
    """pyHanko's PKCS11Signer, handed the key handle we found instead of searching again.

    Besides saving a search, this keeps a search off a session that may have died: on a dead
    session python-pkcs11 leaves the failed search to raise again in its finaliser.
    """
    global _SIGNER_CLASS
    if _SIGNER_CLASS is None:
        from pyhanko.sign.pkcs11 import PKCS11Signer

        class _KnownKeySigner(PKCS11Signer):
            def __init__(self, session: Session, key_handle: Any, **kwargs: Any) -> None:
                self._known_key_handle = _SerialisedKey(key_handle)
                super().__init__(session, **kwargs)

            def _pull_signing_key_handle(self) -> Any:
                return self._known_key_handle

        _SIGNER_CLASS = _KnownKeySigner
    return _SIGNER_CLASS


class _SerialisedKey:
    """A private key handle whose sign() takes the module lock (pyHanko calls it in a worker)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def sign(self, data: bytes, **kwargs: Any) -> bytes:
        with _state.lock:
            return bytes(self._handle.sign(data, **kwargs))


class _State:
    def __init__(self) -> None:
        # Guards the session tables and serialises every call into the modules (see the top).
        self.lock = threading.RLock()
        self.logins: dict[tuple[str, str], _Login] = {}
        self.threads: list[_ThreadSession] = []
        self.local = threading.local()


_state = _State()
_MAC_KEY = secrets.token_bytes(32)
# Modules initialised by a parent process before fork(): the child initialises them again.
_reinitialise: set[str] = set()
_loaded_modules: set[str] = set()


def _with_session(
    reference: _Reference | Pkcs11SealKey, action: Callable[[_ThreadSession], _T]
) -> _T:
    state = _thread_session(reference)
    try:
        return action(state)
    except Exception as error:
        if type(error).__name__ not in _STALE_SESSION_ERRORS:
            raise
    _discard(state)
    return action(_thread_session(reference))


def _thread_session(reference: _Reference | Pkcs11SealKey) -> _ThreadSession:
    state = _state
    key = (reference.module_path, reference.token_label)
    sessions: dict[tuple[str, str], _ThreadSession] = state.local.__dict__.setdefault(
        "sessions", {}
    )
    current = sessions.get(key)
    if current is not None and current.login is state.logins.get(key):
        if not current.login.accepts(reference.pin):
            raise _other_pin(reference.token_label)
        return current
    with state.lock:
        if current is not None:  # made under a login that has since been replaced
            if current in state.threads:
                state.threads.remove(current)
            _close_quietly(current.session)
        login = state.logins.get(key)
        if login is None:
            session = _open(reference.module_path, reference.token_label, reference.pin)
            login = state.logins[key] = _Login(session, reference.pin)
        elif not login.accepts(reference.pin):
            raise _other_pin(reference.token_label)
        # No PIN: this session uses the process's login (a second login would fail).
        session = _open(reference.module_path, reference.token_label, None)
        current = _ThreadSession(session, login, key)
        _close_sessions_of_ended_threads(state)
        state.threads.append(current)
        sessions[key] = current
        return current


def _discard(stale: _ThreadSession) -> None:
    """Forget a session that failed; its login too, unless another thread has renewed it."""
    state = _state
    with state.lock:
        if stale in state.threads:
            state.threads.remove(stale)
        _close_quietly(stale.session)
        for key, login in list(state.logins.items()):
            if login is stale.login:
                del state.logins[key]
                _close_quietly(login.session)
        sessions = state.local.__dict__.get("sessions", {})
        if sessions.get(stale.key) is stale:
            del sessions[stale.key]


def _close_sessions_of_ended_threads(state: _State) -> None:
    for ended in [t for t in state.threads if not t.thread.is_alive()]:
        state.threads.remove(ended)
        _close_quietly(ended.session)


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


def _after_fork_in_child() -> None:
    # The parent's sessions and lock are not ours: drop them without closing (closing would
    # log the parent out), and initialise the modules again before their next use.
    global _state
    _state = _State()
    _reinitialise.update(_loaded_modules)


def _close_quietly(session: Session) -> None:
    # Closing a session of a restarted HSM fails; there is nothing left to do then.
    with contextlib.suppress(Exception):
        session.close()


def _other_pin(token_label: str) -> TokenLoginError:
    return TokenLoginError(
        f"wrong PIN for token {token_label!r}: this process is logged in to it with another "
        f"one (check {PIN_ENV})"
    )


def _pin_mac(pin: str) -> bytes:
    return hmac.new(_MAC_KEY, pin.encode(), hashlib.sha256).digest()


def _certificate_point(certificate: x509.Certificate) -> bytes:
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _require_p256(certificate: x509.Certificate) -> None:
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise TypeError("the seal certificate does not hold an EC P-256 public key")


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


atexit.register(close_token_sessions)
os.register_at_fork(after_in_child=_after_fork_in_child)
