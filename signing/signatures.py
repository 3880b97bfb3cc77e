"""Detached ECDSA signatures over bytes, e.g. the journal's entry hashes."""

from __future__ import annotations

import functools

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signing.seal_key import SealKey


def sign(key: SealKey, data: bytes) -> bytes:
    """Sign `data` with ECDSA P-256 / SHA-256 and return the DER-encoded signature.

    The key is a key file or a key inside a PKCS#11 token; the signature is the same kind.
    """
    return key.sign(data)


@functools.lru_cache(maxsize=64)
def _public_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    # Parsing the key out of the certificate again for each of thousands of entries that one
    # seal signed was a noticeable part of `portal verify` (issue #8); there are few seals.
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        # A wrong certificate is a programming error, unlike a bad signature.
        raise TypeError("the certificate does not hold an EC public key")
    return public_key


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def verify(certificate: x509.Certificate, data: bytes, signature: bytes) -> bool:
    """Tell whether `signature` over `data` was made with the key of `certificate`."""
    public_key = _public_key(certificate)
    try:
        public_key.verify(signature, data, _ECDSA_SHA256)
    except (InvalidSignature, ValueError):
        # ValueError: malformed DER; for the caller that is just one more bad signature.
        return False
    return True
