"""Keys, certificates, signatures and PAdES seals; knows nothing of the portal's domain."""

from signing.keys import (
    Keyring,
    SealKey,
    certificate_fingerprint,
    issue_certificate,
    load_or_create_keyring,
)
from signing.pades import PdfSignatureStatus, seal_pdf, validate_pdf
from signing.signatures import sign, verify

__all__ = [
    "Keyring",
    "PdfSignatureStatus",
    "SealKey",
    "certificate_fingerprint",
    "issue_certificate",
    "load_or_create_keyring",
    "seal_pdf",
    "sign",
    "validate_pdf",
    "verify",
]
