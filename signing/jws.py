"""Signed JSON (JWS, RFC 7515, ES256) for documents that must be checked outside the portal,
such as receipts. The certificate chain travels in the `x5c` header."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from signing.canonical import canonical_json
from signing.seal_key import SealKey


def _registry() -> JWSRegistry:
    registry = JWSRegistry(algorithms=["ES256"])
    # The x5c chain makes the header larger than joserfc's default limit of 512 bytes.
    registry.max_header_length = 8192
    return registry


def sign_json(key: SealKey, payload: dict[str, Any]) -> str:
    """A compact JWS over the canonical JSON of `payload`."""
    # Put together here (RFC 7515 §5.1) around the key's own signature, because a key inside a
    # token cannot be handed to a JOSE library; verify_json checks it like any other JWS.
    public_key = key.certificate.public_key()
    if (
        not isinstance(public_key, ec.EllipticCurvePublicKey)
        or public_key.curve.name != "secp256r1"
    ):
        raise ValueError("ES256 needs an EC P-256 seal key")
    header = {"alg": "ES256", "kid": key.key_id, "x5c": _x5c(key)}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(canonical_json(payload))}"
    # ES256 (RFC 7518 §3.4) is r || s, 32 bytes each, not the DER SEQUENCE keys give.
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii")))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _x5c(key: SealKey) -> list[str]:
    chain = [key.certificate, *key.chain]
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def verify_json(token: str, trust_roots: Sequence[x509.Certificate]) -> dict[str, Any]:
    """The payload of a JWS whose signer certificate was issued by one of `trust_roots`.

    Raises ValueError when the signature, the chain or the format is wrong.
    """
    try:
        encoded_header = token.split(".", 1)[0]
        header = json.loads(
            base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4))
        )
        signer = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        if not any(_issued_by(signer, root) for root in trust_roots):
            raise ValueError("the signer's certificate is not issued by a trusted root")
        public = signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        result = jws.deserialize_compact(
            token, ECKey.import_key(public), algorithms=["ES256"], registry=_registry()
        )
    except (JoseError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"not a valid signed receipt: {exc}") from None
    return json.loads(result.payload)  # type: ignore[no-any-return]


def _issued_by(certificate: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(root)
    except (ValueError, TypeError, Exception):  # noqa: BLE001 (cryptography raises several kinds)
        return certificate == root
    return True
