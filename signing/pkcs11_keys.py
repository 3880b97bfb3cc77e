"""Seal keys that live inside a PKCS#11 token: an HSM in production, SoftHSM2 in tests.

The private key never leaves the token; the portal holds only a reference to it (module, token
label, key label), the PIN and the key's certificate. `Pkcs11SealKey` is a `SealKey`
(signing.seal_key), used exactly like a key file. python-pkcs11 is imported only when a token
is used, so the file-key path works without it.

How sessions are opened, cached, shared between threads and renewed after fork() is told in
signing.pkcs11_sessions; opening a token and loading its module in signing.pkcs11_modules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from signing.certificates import certificate_fingerprint
from signing.key_files import read_certificate_bundle
from signing.pkcs11_modules import pin_from_env
from signing.pkcs11_refs import parse_pkcs11_ref
from signing.pkcs11_sessions import TokenReference, TokenSession, with_session

if TYPE_CHECKING:
    from pyhanko.sign.signers import Signer

_T = TypeVar("_T")


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

    def sign(self, data: bytes) -> bytes:
        """Sign `data` with ECDSA P-256 / SHA-256 inside the token; return a DER signature."""
        _require_p256(self.certificate)
        digest = hashlib.sha256(data).digest()

        def action(state: TokenSession) -> bytes:
            from pkcs11 import Mechanism

            # Plain ECDSA over our own digest: not every token offers ECDSA_SHA256 (SoftHSM2
            # here does not), every EC token offers ECDSA.
            handle = state.private_key(self.key_label)
            with state.lock:
                raw = handle.sign(digest, mechanism=Mechanism.ECDSA)
            half = len(raw) // 2  # PKCS#11 gives r || s; verifiers expect DER SEQUENCE {r, s}
            return encode_dss_signature(
                int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
            )

        return with_session(self._reference(), action)

    def with_pdf_signer(self, action: Callable[[Signer], _T]) -> _T:
        """Run `action` with pyHanko's PKCS#11 signer for this key (cached per thread session).

        `action` may run twice if the first try meets a stale session, so it must start from
        the input again (signing.pades makes a new PDF writer inside it).
        """
        return with_session(
            self._reference(),
            lambda state: action(state.pdf_signer(self.key_label, self.certificate, self.chain)),
        )

    def check(self) -> None:
        """Log in, find the private key and make sure the certificate belongs to it."""

        def action(state: TokenSession) -> None:
            state.private_key(self.key_label)
            point = public_point(state, self.key_label)
            if point is not None and point != _certificate_point(self.certificate):
                raise ValueError(
                    f"the certificate {self.certificate.subject.rfc4514_string()} does not "
                    f"belong to key {self.key_label!r} in token {self.token_label!r}"
                )

        with_session(self._reference(), action)

    def _reference(self) -> TokenReference:
        return TokenReference(self.module_path, self.token_label, self.pin)


def load_token_seal(
    ref: str,
    certificate_pem: bytes | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> Pkcs11SealKey:
    """The key a ``pkcs11:`` reference names, with the token's certificate of the same label
    unless `certificate_pem` is given (certificates after the first are its chain, unless
    `chain` is given); checked to be there and to belong to the certificate."""
    parsed = parse_pkcs11_ref(ref, what="seal", object_type="private")
    pin = pin_from_env(parsed.token_label)
    bundled: tuple[x509.Certificate, ...] = ()
    if certificate_pem is not None:
        certificate, bundled = read_certificate_bundle(certificate_pem, "certificate_pem")
    else:
        certificate = read_token_certificate(
            parsed.module_path, parsed.token_label, pin, parsed.object_label
        )
    key = Pkcs11SealKey(
        module_path=parsed.module_path,
        token_label=parsed.token_label,
        key_label=parsed.object_label,
        pin=pin,
        certificate=certificate,
        chain=tuple(chain) or bundled,
    )
    key.check()
    return key


def read_token_certificate(
    module_path: str, token_label: str, pin: str, label: str
) -> x509.Certificate:
    """Read the certificate stored in the token under `label`."""

    def action(state: TokenSession) -> x509.Certificate:
        from pkcs11 import Attribute, ObjectClass

        with state.lock:
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

    return with_session(TokenReference(module_path, token_label, pin), action)


def public_point(state: TokenSession, label: str) -> bytes | None:
    """The uncompressed EC point of the public key object `label`, or None if there is none."""
    from pkcs11 import Attribute, ObjectClass

    with state.lock:
        found = list(
            state.session.get_objects(
                {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}
            )
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
