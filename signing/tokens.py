"""Seal keys that live inside a PKCS#11 token: an HSM in production, SoftHSM2 in tests.

The private key never leaves the token; the portal holds only a reference to it (module, token
label, key label), the PIN and the key's certificate. python-pkcs11 is imported only when a token
is used, so the file-key path works without it.

How sessions are opened, cached, shared between threads and renewed after fork() is told in
signing.pkcs11_sessions; opening a token and loading its module in signing.pkcs11_modules.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from signing import pkcs11_sessions as _sessions
from signing.keys import certificate_fingerprint
from signing.pkcs11_modules import MODULE_ENV, PIN_ENV, TokenLoginError, _close_quietly, _lib
from signing.pkcs11_sessions import (
    _Reference,
    _thread_session,
    _ThreadSession,
    _with_session,
    close_token_sessions,
)

if TYPE_CHECKING:
    from pkcs11 import Session
    from pyhanko.sign.pkcs11 import PKCS11Signer

__all__ = [
    "DEFAULT_MODULE",
    "MODULE_ENV",
    "PIN_ENV",
    "Pkcs11SealKey",
    "TokenLoginError",
    "check_key",
    "close_token_sessions",
    "module_from_env",
    "pin_from_env",
    "public_point",
    "read_token_certificate",
    "read_write_session",
    "sign_with_token",
    "unwrap_ec_point",
    "with_pdf_signer",
]

DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

_T = TypeVar("_T")


def __getattr__(name: str) -> Any:
    # The session state is replaced on close_token_sessions() and after fork(): `_state` here
    # is always the current one of pkcs11_sessions (tests inspect it through this module).
    if name == "_state":
        return _sessions._state
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        with _sessions._state.lock:
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

        with _sessions._state.lock:
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
    with _sessions._state.lock:
        session = _lib(module_path).get_token(token_label=token_label).open(rw=True)
        try:
            yield session
        finally:
            _close_quietly(session)


def public_point(session: Session, label: str) -> bytes | None:
    """The uncompressed EC point of the public key object `label`, or None if there is none."""
    from pkcs11 import Attribute, ObjectClass

    with _sessions._state.lock:
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


def module_from_env() -> str:
    return os.environ.get(MODULE_ENV) or DEFAULT_MODULE


def pin_from_env(token_label: str) -> str:
    pin = os.environ.get(PIN_ENV)
    if not pin:
        raise TokenLoginError(f"{PIN_ENV} is not set, so token {token_label!r} cannot be opened")
    return pin


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
