"""The PKCS#11 session cache behind signing.pkcs11_keys and signing.token_kek: logins,
per-thread sessions, fork.

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
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing.certificates import certificate_fingerprint, to_asn1
from signing.pkcs11_modules import (
    PIN_ENV,
    TokenLoginError,
    close_quietly,
    load_module,
    open_session,
    reinitialise_after_fork,
)

if TYPE_CHECKING:
    from pkcs11 import Session
    from pyhanko.sign.pkcs11 import PKCS11Signer

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


# --- the session cache ----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenReference:
    """What opening a session needs: module, token, PIN."""

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


class TokenSession:
    """One thread's session on a token, with the key handles and signers found through it.

    Every call into the module through `session` holds `lock` (see the module's docstring).
    """

    def __init__(
        self, session: Session, login: _Login, key: tuple[str, str], lock: threading.RLock
    ) -> None:
        self.session = session
        self.login = login
        self.key = key
        self.token_label = key[1]
        self.lock = lock
        self.thread = threading.current_thread()
        self._keys: dict[tuple[str, str], Any] = {}
        self._signers: dict[tuple[str, str, tuple[str, ...]], PKCS11Signer] = {}

    def private_key(self, label: str) -> Any:
        from pkcs11 import ObjectClass

        return self._key(ObjectClass.PRIVATE_KEY, "private key", label)

    def secret_key(self, label: str) -> Any:
        """A secret (e.g. AES) key, such as a key-encryption key (signing.token_kek)."""
        from pkcs11 import ObjectClass

        return self._key(ObjectClass.SECRET_KEY, "secret key", label)

    def _key(self, object_class: Any, kind: str, label: str) -> Any:
        if (kind, label) not in self._keys:
            from pkcs11 import Attribute

            with self.lock:
                found = list(
                    self.session.get_objects(
                        {Attribute.CLASS: object_class, Attribute.LABEL: label}
                    )
                )
            if not found:
                raise LookupError(f"no {kind} labelled {label!r} in token {self.token_label!r}")
            if len(found) > 1:
                raise LookupError(
                    f"{len(found)} {kind}s labelled {label!r} in token "
                    f"{self.token_label!r}: the label must name one key"
                )
            self._keys[(kind, label)] = found[0]
        return self._keys[(kind, label)]

    def pdf_signer(
        self, key_label: str, certificate: x509.Certificate, chain: tuple[x509.Certificate, ...]
    ) -> PKCS11Signer:
        """pyHanko's signer for the private key `key_label` with this certificate and chain."""
        cache_key = (
            key_label,
            certificate_fingerprint(certificate),
            tuple(certificate_fingerprint(c) for c in chain),
        )
        signer = self._signers.get(cache_key)
        if signer is None:
            signer = _signer_class()(
                self.session,
                # Found by us: readable LookupErrors.
                _SerialisedKey(self.private_key(key_label), self.lock),
                key_label=key_label,
                signing_cert=to_asn1(certificate),
                ca_chain=[to_asn1(c) for c in chain],
                other_certs_to_pull=(),  # the chain is given; nothing else to read
                # The CA certificate travels in the CMS, as with file keys (signing.file_keys).
                embed_roots=True,
                # EC: pyHanko hashes, the token does plain ECDSA (SoftHSM2 offers no
                # ECDSA_SHA256); RSA tokens sign with the combined mechanism.
                use_raw_mechanism=isinstance(certificate.public_key(), ec.EllipticCurvePublicKey),
            )
            # Load now, synchronously: pyHanko would otherwise do it inside the first event
            # loop, and a failure there would leave it waiting on that dead loop next time.
            _ = signer.signing_cert
            self._signers[cache_key] = signer
        return signer


_SIGNER_CLASS: Callable[..., PKCS11Signer] | None = None


def _signer_class() -> Callable[..., PKCS11Signer]:
    """pyHanko's PKCS11Signer, handed the key handle we found instead of searching again.

    Besides saving a search, this keeps a search off a session that may have died: on a dead
    session python-pkcs11 leaves the failed search to raise again in its finaliser.
    """
    global _SIGNER_CLASS
    if _SIGNER_CLASS is None:
        from pyhanko.sign.pkcs11 import PKCS11Signer

        class _KnownKeySigner(PKCS11Signer):
            def __init__(self, session: Session, key_handle: _SerialisedKey, **kwargs: Any) -> None:
                self._known_key_handle = key_handle
                super().__init__(session, **kwargs)

            def _pull_signing_key_handle(self) -> Any:
                return self._known_key_handle

        _SIGNER_CLASS = _KnownKeySigner
    return _SIGNER_CLASS


class _SerialisedKey:
    """A private key handle whose sign() takes the module lock (pyHanko calls it in a worker)."""

    def __init__(self, handle: Any, lock: threading.RLock) -> None:
        self._handle = handle
        self._lock = lock

    def sign(self, data: bytes, **kwargs: Any) -> bytes:
        with self._lock:
            return bytes(self._handle.sign(data, **kwargs))


class _State:
    def __init__(self) -> None:
        # Guards the session tables and serialises every call into the modules (see the top).
        self.lock = threading.RLock()
        self.logins: dict[tuple[str, str], _Login] = {}
        self.threads: list[TokenSession] = []
        self.local = threading.local()


_state = _State()
_MAC_KEY = secrets.token_bytes(32)


def close_token_sessions() -> None:
    """Close every cached session and log out (at interpreter exit; tests use it to start over).

    Not for use while other threads are signing: their sessions close under them.
    """
    global _state
    old = _state
    with old.lock:
        _state = _State()
        for thread_state in old.threads:
            close_quietly(thread_state.session)
        for login in old.logins.values():
            close_quietly(login.session)


@dataclass(frozen=True)
class SessionCensus:
    """What the cache holds now: logins per token, and the threads that have a session."""

    logins: int
    threads: tuple[threading.Thread, ...]


def session_census() -> SessionCensus:
    """Count the cached logins and thread sessions (for health checks and tests)."""
    state = _state
    with state.lock:
        return SessionCensus(len(state.logins), tuple(t.thread for t in state.threads))


def current_session(module_path: str, token_label: str) -> TokenSession | None:
    """The calling thread's cached session on the token, if it has one."""
    sessions = _state.local.__dict__.get("sessions", {})
    session: TokenSession | None = sessions.get((module_path, token_label))
    return session


def with_session(reference: TokenReference, action: Callable[[TokenSession], _T]) -> _T:
    """Run `action` on the calling thread's session on the token (logging in if need be).

    If the session turns out stale (the HSM restarted, the token was re-inserted), it is
    dropped and `action` runs once more on a fresh one: it must start from its input again.
    """
    state = _thread_session(reference)
    try:
        return action(state)
    except Exception as error:
        if type(error).__name__ not in _STALE_SESSION_ERRORS:
            raise
    _discard(state)
    return action(_thread_session(reference))


@contextmanager
def read_write_session(module_path: str, token_label: str, pin: str) -> Iterator[Session]:
    """A short-lived read/write session (to create objects), using the process's login.

    The module lock is held throughout: use it for a few calls, not for long work.
    """
    logged_in = _thread_session(TokenReference(module_path, token_label, pin))  # or PIN check
    with logged_in.lock:
        session = load_module(module_path).get_token(token_label=token_label).open(rw=True)
        try:
            yield session
        finally:
            close_quietly(session)


def _thread_session(reference: TokenReference) -> TokenSession:
    state = _state
    key = (reference.module_path, reference.token_label)
    sessions: dict[tuple[str, str], TokenSession] = state.local.__dict__.setdefault("sessions", {})
    current = sessions.get(key)
    if current is not None and current.login is state.logins.get(key):
        if not current.login.accepts(reference.pin):
            raise _other_pin(reference.token_label)
        return current
    with state.lock:
        if current is not None:  # made under a login that has since been replaced
            if current in state.threads:
                state.threads.remove(current)
            close_quietly(current.session)
        login = state.logins.get(key)
        if login is None:
            session = open_session(reference.module_path, reference.token_label, reference.pin)
            login = state.logins[key] = _Login(session, reference.pin)
        elif not login.accepts(reference.pin):
            raise _other_pin(reference.token_label)
        # No PIN: this session uses the process's login (a second login would fail).
        session = open_session(reference.module_path, reference.token_label, None)
        current = TokenSession(session, login, key, state.lock)
        _close_sessions_of_ended_threads(state)
        state.threads.append(current)
        sessions[key] = current
        return current


def _discard(stale: TokenSession) -> None:
    """Forget a session that failed; its login too, unless another thread has renewed it."""
    state = _state
    with state.lock:
        if stale in state.threads:
            state.threads.remove(stale)
        close_quietly(stale.session)
        for key, login in list(state.logins.items()):
            if login is stale.login:
                del state.logins[key]
                close_quietly(login.session)
        sessions = state.local.__dict__.get("sessions", {})
        if sessions.get(stale.key) is stale:
            del sessions[stale.key]


def _close_sessions_of_ended_threads(state: _State) -> None:
    for ended in [t for t in state.threads if not t.thread.is_alive()]:
        state.threads.remove(ended)
        close_quietly(ended.session)


def _after_fork_in_child() -> None:
    # The parent's sessions and lock are not ours: drop them without closing (closing would
    # log the parent out), and initialise the modules again before their next use.
    global _state
    _state = _State()
    reinitialise_after_fork()


def _other_pin(token_label: str) -> TokenLoginError:
    return TokenLoginError(
        f"wrong PIN for token {token_label!r}: this process is logged in to it with another "
        f"one (check {PIN_ENV})"
    )


def _pin_mac(pin: str) -> bytes:
    return hmac.new(_MAC_KEY, pin.encode(), hashlib.sha256).digest()


atexit.register(close_token_sessions)
os.register_at_fork(after_in_child=_after_fork_in_child)
