"""Keys and certificates in PEM files: reading and writing them atomically, encrypted with
PORTAL_KEY_PASSPHRASE when that is set, and a lock for processes that start at once."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PASSPHRASE_ENV = "PORTAL_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret


def passphrase_is_set() -> bool:
    """Whether private key files are written and read encrypted (PORTAL_KEY_PASSPHRASE)."""
    return _passphrase() is not None


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV, "")
    return value.encode() if value else None


def read_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The EC private key in a PEM file, decrypted with PORTAL_KEY_PASSPHRASE if it is set."""
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


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write `key` as PKCS#8 PEM (mode 0600), encrypted with PORTAL_KEY_PASSPHRASE if set."""
    passphrase = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    write_atomically(path, pem, mode=0o600)


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
        write_private_key(path, key)
        protected.append(path)
    return protected


def read_certificate(path: Path) -> x509.Certificate:
    """The first certificate in a PEM file."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def read_certificate_bundle(
    pem: bytes, origin: str
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The first certificate in PEM and the certificates after it (its chain); `origin` names
    where the PEM came from, for the message if it cannot be read."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise ValueError(f"cannot read the seal certificate ({origin}): {error}") from error
    return certificates[0], tuple(certificates[1:])


def write_certificates(path: Path, certificates: Sequence[x509.Certificate]) -> None:
    """Write one certificate, or a bundle of them, as PEM (mode 0644)."""
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    write_atomically(path, pem, mode=0o644)


def write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    """Replace `path` by `data` so that a reader sees the old file or the new one, never half."""
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
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing) for the block."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
