"""The portal's own time-stamping key (tsa.key.pem) and its certificate (tsa.pem), kept in the
keyring folder and issued by the keyring's CA; signing.timestamps makes the tokens with it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from signing.certificates import ORGANISATION, build_tsa_certificate, subject_name
from signing.file_keys import FileSealKey
from signing.key_files import (
    exclusive_lock,
    read_certificate,
    read_private_key,
    write_certificates,
    write_private_key,
)
from signing.keys import LOCK_FILE, Keyring

TSA_CERT_FILE = "tsa.pem"
TSA_KEY_FILE = "tsa.key.pem"
_RENEW_DAYS = 30


def load_or_create_tsa_key(folder: Path, keyring: Keyring, common_name: str) -> FileSealKey:
    """The portal's own time-stamping key and its certificate, issued by the CA when missing,
    and again when the certificate has less than a month to run."""
    folder = Path(folder)
    cert_path, key_path = folder / TSA_CERT_FILE, folder / TSA_KEY_FILE
    if keyring.ca_key is None:
        # The CA is kept elsewhere: what is here is used as long as it is valid.
        if _days_left(cert_path, key_path) <= 0:
            raise ValueError(
                f"{cert_path} is missing or expired, and without the CA key it cannot be "
                "issued here: set PORTAL_TSA_URL, or put a time-stamping certificate and key there"
            )
        return _load(cert_path, key_path, keyring)
    if _days_left(cert_path, key_path) < _RENEW_DAYS:
        folder.mkdir(parents=True, exist_ok=True)
        # As for the keyring: of two processes starting at once, one issues, the other loads.
        with exclusive_lock(folder / LOCK_FILE):
            if _days_left(cert_path, key_path) < _RENEW_DAYS:
                key = ec.generate_private_key(ec.SECP256R1())
                subject = subject_name(common_name, ORGANISATION)
                certificate = build_tsa_certificate(
                    subject, key.public_key(), keyring.ca_certificate, keyring.ca_key
                )
                # Tokens carry their certificate, so the old one need not be kept.
                write_private_key(key_path, key)
                write_certificates(cert_path, (certificate,))
    return _load(cert_path, key_path, keyring)


def _days_left(cert_path: Path, key_path: Path) -> float:
    if not (cert_path.is_file() and key_path.is_file()):
        return 0.0
    remaining = read_certificate(cert_path).not_valid_after_utc - dt.datetime.now(dt.UTC)
    return remaining / dt.timedelta(days=1)


def _load(cert_path: Path, key_path: Path, keyring: Keyring) -> FileSealKey:
    key = read_private_key(key_path)
    certificate = read_certificate(cert_path)
    if key.public_key() != certificate.public_key():
        raise ValueError(f"{key_path} does not belong to {cert_path}")
    return FileSealKey(private_key=key, certificate=certificate, chain=(keyring.ca_certificate,))
