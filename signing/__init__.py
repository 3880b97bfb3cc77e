"""Keys, certificates, signatures and PAdES seals; knows nothing of the portal's domain."""

from signing.authority_keys import generate_token_key, issue_authority_seal, load_seal
from signing.keys import (
    Keyring,
    SealKey,
    certificate_fingerprint,
    issue_certificate,
    issue_certificate_for_public_key,
    load_or_create_keyring,
)
from signing.pades import PdfSignatureStatus, seal_pdf, validate_pdf
from signing.signatures import sign, verify
from signing.tokens import Pkcs11SealKey, TokenLoginError

__all__ = [
    "Keyring",
    "PdfSignatureStatus",
    "Pkcs11SealKey",
    "SealKey",
    "TokenLoginError",
    "certificate_fingerprint",
    "generate_token_key",
    "issue_authority_seal",
    "issue_certificate",
    "issue_certificate_for_public_key",
    "load_or_create_keyring",
    "load_seal",
    "seal_pdf",
    "sign",
    "validate_pdf",
    "verify",
]
