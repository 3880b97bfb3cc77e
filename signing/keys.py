"""The portal's keys and certificates: a small private CA, the portal's seal and retired seals."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.certificates import (
    ORGANISATION,
    SEAL_COMMON_NAME,
    build_ca,
    build_seal_certificate,
    build_seal_certificate_for_public_key,
    build_tsa_certificate,
    subject_name,
)

if TYPE_CHECKING:
    from signing.timestamps import TimeStampingAuthority
    from signing.tokens import Pkcs11SealKey

PASSPHRASE_ENV = "PORTAL_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key.pem"
SEAL_CERT_FILE = "seal.pem"
SEAL_KEY_FILE = "seal.key.pem"
TSA_CERT_FILE = "tsa.pem"
TSA_KEY_FILE = "tsa.key.pem"
RETIRED_FOLDER = "retired"
_LOCK_FILE = ".keyring.lock"


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """Return the lowercase hex SHA-256 of the certificate's DER encoding."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class SealKey:
    """A signing key with its certificate and the issuer certificates up to the root."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def key_id(self) -> str:
        return certificate_fingerprint(self.certificate)


@dataclass
class Keyring:
    """The CA, the current seal and every seal certificate ever used (by key id)."""

    ca_certificate: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey | None
    # A key file (the embedded default) or a key inside a PKCS#11 token (see with_seal).
    seal: SealKey | Pkcs11SealKey
    certificates: dict[str, x509.Certificate] = field(default_factory=dict)
    # Who time-stamps anchors and receipt seals (app/keys.py sets it from the configuration);
    # None: nobody can, and receipts are sealed without a timestamp.
    tsa: TimeStampingAuthority | None = None

    def with_seal(self, seal: SealKey | Pkcs11SealKey) -> Keyring:
        """Return a copy that seals with `seal` (e.g. a key in a token) instead.

        The previous seal certificate stays known by its key id, so what it signed still
        verifies.
        """
        certificates = dict(self.certificates)
        certificates[seal.key_id] = seal.certificate
        return Keyring(self.ca_certificate, self.ca_key, seal, certificates, self.tsa)

    def certificate(self, key_id: str) -> x509.Certificate:
        """Return the seal certificate (current or retired) with this key id."""
        try:
            return self.certificates[key_id.lower()]
        except KeyError:
            raise KeyError(
                f"no seal certificate with key id {key_id!r} in the keyring "
                "(neither the current seal nor one in retired/)"
            ) from None


def load_or_create_keyring(folder: Path, *, create: bool = True) -> Keyring:
    """Load the keyring from `folder`, first generating the CA and seal there if allowed."""
    folder = Path(folder)
    missing = _missing_files(folder)
    if missing and not create:
        raise FileNotFoundError(f"keyring file {folder / missing[0]} is missing")
    if missing:
        _create_missing(folder)
    return _load(folder)


def issue_certificate(keyring: Keyring, common_name: str, organisation: str) -> SealKey:
    """Issue a new EC P-256 seal key and certificate signed by the keyring's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issue_certificate_for_public_key(
        keyring, key.public_key(), common_name, organisation
    )
    return SealKey(private_key=key, certificate=certificate, chain=(keyring.ca_certificate,))


def issue_certificate_for_public_key(
    keyring: Keyring,
    public_key: ec.EllipticCurvePublicKey,
    common_name: str,
    organisation: str,
) -> x509.Certificate:
    """Issue a seal certificate, signed by the keyring's CA, for a key held elsewhere (a token)."""
    if keyring.ca_key is None:
        raise ValueError("the keyring has no CA private key, so it cannot issue certificates")
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise ValueError("seal keys are EC P-256 keys")
    subject = subject_name(common_name, organisation)
    return build_seal_certificate_for_public_key(
        subject, public_key, keyring.ca_certificate, keyring.ca_key
    )


def load_or_create_tsa_key(folder: Path, keyring: Keyring, common_name: str) -> SealKey:
    """The portal's own time-stamping key (tsa.key.pem) and its certificate (tsa.pem), issued
    by the CA when missing, and again when the certificate has less than a month to run."""
    folder = Path(folder)
    cert_path, key_path = folder / TSA_CERT_FILE, folder / TSA_KEY_FILE
    if keyring.ca_key is None:
        # The CA is kept elsewhere: what is here is used as long as it is valid.
        if _tsa_days_left(cert_path, key_path) <= 0:
            raise ValueError(
                f"{cert_path} is missing or expired, and without the CA key it cannot be "
                "issued here: set PORTAL_TSA_URL, or put a time-stamping certificate and key there"
            )
        return _load_tsa_key(cert_path, key_path, keyring)
    if _tsa_days_left(cert_path, key_path) < 30:
        folder.mkdir(parents=True, exist_ok=True)
        # As for the keyring: of two processes starting at once, one issues, the other loads.
        with _exclusive_lock(folder / _LOCK_FILE):
            if _tsa_days_left(cert_path, key_path) < 30:
                key = ec.generate_private_key(ec.SECP256R1())
                subject = subject_name(common_name, ORGANISATION)
                certificate = build_tsa_certificate(
                    subject, key.public_key(), keyring.ca_certificate, keyring.ca_key
                )
                # Tokens carry their certificate, so the old one need not be kept.
                _write_private_key(key_path, key)
                _write_certificate(cert_path, certificate)
    return _load_tsa_key(cert_path, key_path, keyring)


def _tsa_days_left(cert_path: Path, key_path: Path) -> float:
    if not (cert_path.is_file() and key_path.is_file()):
        return 0.0
    remaining = _read_certificate(cert_path).not_valid_after_utc - dt.datetime.now(dt.UTC)
    return remaining / dt.timedelta(days=1)


def _load_tsa_key(cert_path: Path, key_path: Path, keyring: Keyring) -> SealKey:
    key = _read_private_key(key_path)
    certificate = _read_certificate(cert_path)
    if key.public_key() != certificate.public_key():
        raise ValueError(f"{key_path} does not belong to {cert_path}")
    return SealKey(private_key=key, certificate=certificate, chain=(keyring.ca_certificate,))


# --- files ---------------------------------------------------------------------------------


def _missing_files(folder: Path) -> list[str]:
    # The CA key is optional: production may keep it offline and hand us only certificates.
    required = (CA_CERT_FILE, SEAL_CERT_FILE, SEAL_KEY_FILE)
    return [name for name in required if not (folder / name).is_file()]


def _create_missing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Two processes (web workers, a job worker) may start at once on an empty folder. The lock
    # makes one of them create everything; the other then finds the files and only loads them.
    # Files appear by os.replace, so a reader without the lock never sees a half-written file.
    with _exclusive_lock(folder / _LOCK_FILE):
        if not _missing_files(folder):
            return
        if (folder / CA_CERT_FILE).is_file():
            ca_certificate = _read_certificate(folder / CA_CERT_FILE)
            ca_key = _read_private_key(folder / CA_KEY_FILE)
        else:
            ca_key, ca_certificate = build_ca()
            # Key before certificate: a certificate on disk always has its key next to it.
            _write_private_key(folder / CA_KEY_FILE, ca_key)
            _write_certificate(folder / CA_CERT_FILE, ca_certificate)
        _retire_seal_certificate(folder)
        seal_key = ec.generate_private_key(ec.SECP256R1())
        subject = subject_name(SEAL_COMMON_NAME, ORGANISATION)
        seal = build_seal_certificate(subject, seal_key, ca_certificate, ca_key)
        _write_private_key(folder / SEAL_KEY_FILE, seal_key)
        _write_certificate(folder / SEAL_CERT_FILE, seal)


def _retire_seal_certificate(folder: Path) -> None:
    # A seal certificate whose key is gone is about to be replaced. Journal entries signed
    # with it must stay verifiable, so it moves to retired/ instead of being overwritten.
    current = folder / SEAL_CERT_FILE
    if not current.is_file():
        return
    certificate = _read_certificate(current)
    retired = folder / RETIRED_FOLDER
    retired.mkdir(exist_ok=True)
    _write_certificate(retired / f"{certificate_fingerprint(certificate)}.pem", certificate)
    current.unlink()


def _load(folder: Path) -> Keyring:
    ca_certificate = _read_certificate(folder / CA_CERT_FILE)
    ca_key_path = folder / CA_KEY_FILE
    ca_key = _read_private_key(ca_key_path) if ca_key_path.is_file() else None
    seal_certificate = _read_certificate(folder / SEAL_CERT_FILE)
    seal_key = _read_private_key(folder / SEAL_KEY_FILE)
    if seal_key.public_key() != seal_certificate.public_key():
        raise ValueError(f"{folder / SEAL_KEY_FILE} does not belong to {folder / SEAL_CERT_FILE}")
    seal = SealKey(private_key=seal_key, certificate=seal_certificate, chain=(ca_certificate,))
    certificates = {certificate_fingerprint(c): c for c in _retired_certificates(folder)}
    certificates[seal.key_id] = seal_certificate
    return Keyring(ca_certificate, ca_key, seal, certificates)


def _retired_certificates(folder: Path) -> Iterator[x509.Certificate]:
    retired = folder / RETIRED_FOLDER
    if not retired.is_dir():
        return
    for path in sorted(retired.glob("*.pem")):
        # A file may hold one certificate or a bundle of them.
        yield from x509.load_pem_x509_certificates(path.read_bytes())


def _read_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def passphrase_is_set() -> bool:
    """Whether private key files are written and read encrypted (PORTAL_KEY_PASSPHRASE)."""
    return _passphrase() is not None


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV, "")
    return value.encode() if value else None


def _read_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    passphrase = _passphrase()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except TypeError as error:
        # cryptography says TypeError when encryption and passphrase do not match up.
        if passphrase:
            raise ValueError(
                f"{path} is not encrypted although {PASSPHRASE_ENV} is set: encrypt it with "
                "`portal keys protect`"
            ) from error
        raise ValueError(f"{path} is encrypted: set {PASSPHRASE_ENV} to read it") from error
    except ValueError as error:
        raise ValueError(f"cannot read {path} (wrong {PASSPHRASE_ENV}?): {error}") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return key


def protect_key_files(folder: Path) -> list[Path]:
    """Encrypt the plain private key files (``*.key.pem``) in `folder` with PORTAL_KEY_PASSPHRASE.

    Returns the files it encrypted; files already encrypted are left alone. For an instance
    that started without a passphrase and moves to production.
    """
    if not passphrase_is_set():
        raise ValueError(f"set {PASSPHRASE_ENV} first: it is what the files get encrypted with")
    protected = []
    for path in sorted(Path(folder).glob("*.key.pem")):
        pem = path.read_bytes()
        if b"BEGIN ENCRYPTED PRIVATE KEY" in pem:
            continue
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC private key")
        _write_private_key(path, key)
        protected.append(path)
    return protected


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    passphrase = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    _write_atomically(path, pem, mode=0o600)


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    _write_atomically(path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    # mkstemp creates the file 0600, so a private key is never readable by others, not even
    # for the moment before the final chmod.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
