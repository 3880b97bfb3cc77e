"""Keys, certificates, signatures and PAdES seals; knows nothing of the portal's domain.

Every seal key is a `SealKey` (signing/seal_key.py): a key file (`FileSealKey`) or a key
inside a PKCS#11 token (`Pkcs11SealKey`); whatever signs takes either.
"""

from signing.authority_keys import issue_authority_seal, load_seal
from signing.certificates import certificate_fingerprint
from signing.file_keys import FileSealKey
from signing.keys import (
    Keyring,
    issue_certificate,
    issue_certificate_for_public_key,
    load_or_create_keyring,
)
from signing.pades import seal_pdf
from signing.pdf_validation import PdfSignatureStatus, validate_pdf
from signing.pkcs11_keygen import generate_token_key
from signing.pkcs11_keys import Pkcs11SealKey
from signing.pkcs11_modules import TokenLoginError
from signing.seal_key import SealKey
from signing.signatures import sign, verify

__all__ = [
    "FileSealKey",
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
