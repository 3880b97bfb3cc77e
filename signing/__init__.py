"""Keys, certificates, signatures and PAdES seals; knows nothing of the portal's domain.

Every seal key is a `SealKey` (signing/seal_key.py): a key file (`FileSealKey`) or a key
inside a PKCS#11 token (`Pkcs11SealKey`); whatever signs takes either.

The names below load their module on first use: `portal verify PATH` needs the hash chain and
the Merkle tree, not pyHanko's signing machinery (seconds of start-up on a busy machine).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "FileSealKey": "file_keys",
    "Keyring": "keys",
    "PdfSignatureStatus": "pdf_validation",
    "Pkcs11SealKey": "pkcs11_keys",
    "SealKey": "seal_key",
    "TokenLoginError": "pkcs11_modules",
    "certificate_fingerprint": "certificates",
    "generate_token_key": "pkcs11_keygen",
    "issue_authority_seal": "authority_keys",
    "issue_certificate": "keys",
    "issue_certificate_for_public_key": "keys",
    "load_or_create_keyring": "keys",
    "load_seal": "authority_keys",
    "seal_pdf": "pades",
    "sign": "signatures",
    "validate_pdf": "pdf_validation",
    "verify": "signatures",
}
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'signing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"signing.{home}"), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value
