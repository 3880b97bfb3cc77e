"""The portal's keyring: a small private CA, the portal's seal and retired seal certificates,
kept as files in one folder; and seal certificates the CA issues for keys held elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing.certificates import (
    ORGANISATION,
    SEAL_COMMON_NAME,
    build_ca,
    build_seal_certificate,
    build_seal_certificate_for_public_key,
    certificate_fingerprint,
    subject_name,
)
from signing.file_keys import FileSealKey
from signing.key_files import (
    exclusive_lock,
    read_certificate,
    read_private_key,
    write_certificates,
    write_private_key,
)
from signing.seal_key import SealKey

if TYPE_CHECKING:
    from signing.timestamps import TimeStampingAuthority

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key.pem"
SEAL_CERT_FILE = "seal.pem"
SEAL_KEY_FILE = "seal.key.pem"
RETIRED_FOLDER = "retired"
LOCK_FILE = ".keyring.lock"  # held while files in the keyring folder are created


@dataclass
class Keyring:
    """The CA, the current seal and every seal certificate ever used (by key id)."""

    ca_certificate: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey | None
    # A key file (the embedded default) or a key inside a PKCS#11 token (see with_seal).
    seal: SealKey
    certificates: dict[str, x509.Certificate] = field(default_factory=dict)
    # Who time-stamps anchors and receipt seals (app/keys.py sets it from the configuration);
    # None: nobody can, and receipts are sealed without a timestamp.
    tsa: TimeStampingAuthority | None = None

    def with_seal(self, seal: SealKey) -> Keyring:
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


def issue_certificate(keyring: Keyring, common_name: str, organisation: str) -> FileSealKey:
    """Issue a new EC P-256 seal key and certificate signed by the keyring's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issue_certificate_for_public_key(
        keyring, key.public_key(), common_name, organisation
    )
    return FileSealKey(private_key=key, certificate=certificate, chain=(keyring.ca_certificate,))


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


def retire_certificate(certificate: x509.Certificate, folder: Path) -> None:
    """Keep a seal certificate whose key is gone in ``folder/retired/``: what it signed must
    stay verifiable (the keyring reads them back by key id)."""
    retired = folder / RETIRED_FOLDER
    retired.mkdir(exist_ok=True)
    write_certificates(retired / f"{certificate_fingerprint(certificate)}.pem", (certificate,))


# --- the keyring folder -------------------------------------------------------------------


def _missing_files(folder: Path) -> list[str]:
    # The CA key is optional: production may keep it offline and hand us only certificates.
    required = (CA_CERT_FILE, SEAL_CERT_FILE, SEAL_KEY_FILE)
    return [name for name in required if not (folder / name).is_file()]


def _create_missing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Two processes (web workers, a job worker) may start at once on an empty folder. The lock
    # makes one of them create everything; the other then finds the files and only loads them.
    # Files appear by os.replace, so a reader without the lock never sees a half-written file.
    with exclusive_lock(folder / LOCK_FILE):
        if not _missing_files(folder):
            return
        if (folder / CA_CERT_FILE).is_file():
            ca_certificate = read_certificate(folder / CA_CERT_FILE)
            ca_key = read_private_key(folder / CA_KEY_FILE)
        else:
            ca_key, ca_certificate = build_ca()
            # Key before certificate: a certificate on disk always has its key next to it.
            write_private_key(folder / CA_KEY_FILE, ca_key)
            write_certificates(folder / CA_CERT_FILE, (ca_certificate,))
        current = folder / SEAL_CERT_FILE
        if current.is_file():
            # Its key is gone (else nothing would be missing): it is about to be replaced.
            retire_certificate(read_certificate(current), folder)
            current.unlink()
        seal_key = ec.generate_private_key(ec.SECP256R1())
        subject = subject_name(SEAL_COMMON_NAME, ORGANISATION)
        seal = build_seal_certificate(subject, seal_key, ca_certificate, ca_key)
        write_private_key(folder / SEAL_KEY_FILE, seal_key)
        write_certificates(folder / SEAL_CERT_FILE, (seal,))


def _load(folder: Path) -> Keyring:
    ca_certificate = read_certificate(folder / CA_CERT_FILE)
    ca_key_path = folder / CA_KEY_FILE
    ca_key = read_private_key(ca_key_path) if ca_key_path.is_file() else None
    seal_certificate = read_certificate(folder / SEAL_CERT_FILE)
    seal_key = read_private_key(folder / SEAL_KEY_FILE)
    if seal_key.public_key() != seal_certificate.public_key():
        raise ValueError(f"{folder / SEAL_KEY_FILE} does not belong to {folder / SEAL_CERT_FILE}")
    seal = FileSealKey(private_key=seal_key, certificate=seal_certificate, chain=(ca_certificate,))
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
