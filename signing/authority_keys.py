"""Organisations' seal keys: issued into files by the portal's CA, or held in a PKCS#11 token.

A seal is named by a reference string, kept in the configuration of whoever owns it:

- ``file:/abs/path/to/slug``: the certificate in ``slug.pem`` (followed by its issuers, as
  `issue_authority_seal` writes it) and the key in ``slug.key.pem`` (encrypted with
  PORTAL_KEY_PASSPHRASE when that is set, like the portal's own keys);
- ``pkcs11:token=<token label>;object=<key label>`` (RFC 7512, values percent-encoded): the
  key in a token of the module PORTAL_PKCS11_MODULE (default SoftHSM2's), opened with the PIN
  in PORTAL_PKCS11_PIN; the certificate is the token's certificate object with the key's
  label unless one is passed. The PIN never goes into a reference: references get logged.

Either way the result is a `SealKey` (signing.seal_key).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing.file_keys import FileSealKey
from signing.key_files import (
    exclusive_lock,
    read_certificate_bundle,
    read_private_key,
    write_certificates,
    write_private_key,
)
from signing.keys import Keyring, issue_certificate_for_public_key, retire_certificate
from signing.pkcs11_keys import load_token_seal
from signing.seal_key import SealKey

SEAL_PREFIX = "Siegel"
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")
# The portal's own files in a keyring folder; an authority must never overwrite them.
_RESERVED_SLUGS = frozenset({"ca", "seal"})
_LOCK_FILE = ".seals.lock"


def issue_authority_seal(keyring: Keyring, folder: Path, slug: str, name: str) -> FileSealKey:
    """Return the file seal of authority `slug`, issuing it with the keyring's CA the first time.

    The certificate "Siegel <name>" (O=<name>) goes to ``<folder>/<slug>.pem`` followed by the
    CA certificate, the key to ``<folder>/<slug>.key.pem`` (0600). When both files exist they are
    loaded as they are (a later change of `name` does not reissue). A certificate whose key was
    lost moves to ``<folder>/retired/`` and a new seal is issued; a key left alone by a crash
    gets its certificate.
    """
    folder = Path(folder)
    _check_slug(slug)
    if not name.strip():
        raise ValueError("an authority's seal needs the authority's name")
    certificate_path, key_path = _seal_files(folder / slug)
    if certificate_path.is_file() and key_path.is_file():
        return _load_file_seal(folder / slug)
    if keyring.ca_key is None:
        raise ValueError(
            f"the keyring has no CA private key, so it cannot issue the seal of {slug!r}: "
            f"put its certificate and key at {certificate_path} and {key_path}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    # Several processes may start at once (web workers, job workers): one issues, the others
    # then find the files. Files appear by atomic rename, so readers never see half a file.
    with exclusive_lock(folder / _LOCK_FILE):
        if certificate_path.is_file() and key_path.is_file():
            return _load_file_seal(folder / slug)
        if certificate_path.is_file():
            # Signatures made with the lost key must stay verifiable: keep the certificate.
            lost, _ = read_certificate_bundle(certificate_path.read_bytes(), str(certificate_path))
            retire_certificate(lost, folder)
            certificate_path.unlink()
        if key_path.is_file():
            key = read_private_key(key_path)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            # Key before certificate: a certificate on disk always has its key next to it.
            write_private_key(key_path, key)
        certificate = issue_certificate_for_public_key(
            keyring, key.public_key(), f"{SEAL_PREFIX} {name}", name
        )
        chain = (keyring.ca_certificate,)
        write_certificates(certificate_path, (certificate, *chain))
    return FileSealKey(private_key=key, certificate=certificate, chain=chain)


def load_seal(
    ref: str,
    certificate_pem: bytes | None = None,
    *,
    chain: Sequence[x509.Certificate] = (),
) -> SealKey:
    """Load the seal a reference names (see the module's docstring).

    `certificate_pem` replaces the certificate from the file or token; certificates after the
    first one in it (or in ``slug.pem``) are its chain, unless `chain` is given. Raises
    ValueError for a malformed reference or a certificate that does not belong to the key,
    FileNotFoundError or LookupError when the key is not there, and TokenLoginError
    (a PermissionError) for a missing or wrong PIN.
    """
    if not isinstance(ref, str):
        raise ValueError(f"a seal reference is a string, not {type(ref).__name__}")
    if ref.startswith("file:"):
        return _load_file_seal(_parse_file_ref(ref), certificate_pem, chain)
    if ref.startswith("pkcs11:"):
        return load_token_seal(ref, certificate_pem, chain)
    # Not echoed: a garbled reference might hold a secret.
    raise ValueError(
        "a seal reference starts with 'file:' (file:/abs/path/to/slug) or 'pkcs11:' "
        "(pkcs11:token=<label>;object=<key label>)"
    )


def _check_slug(slug: str) -> None:
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise ValueError(
            f"invalid seal slug {slug!r}: use lowercase letters, digits, '-' and '_' "
            "(at most 80, starting with a letter or digit)"
        )
    if slug in _RESERVED_SLUGS:
        raise ValueError(f"the slug {slug!r} is reserved for the portal's own keys")


def _seal_files(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(f"{stem.name}.pem"), stem.with_name(f"{stem.name}.key.pem")


def _parse_file_ref(ref: str) -> Path:
    path = ref[len("file:") :]
    if path.startswith("//"):
        # file:///abs/path (the URL form): an empty host only.
        if not path.startswith("///"):
            raise ValueError(f"seal reference {ref!r}: only local files (file:/abs/path/slug)")
        path = path[2:]
    if not path.startswith("/") or "\x00" in path:
        raise ValueError(f"seal reference {ref!r}: the path must be absolute (file:/abs/path/slug)")
    stem = Path(path)
    if path.endswith("/") or not stem.name or stem.name in {".", ".."}:
        raise ValueError(f"seal reference {ref!r}: the path must end in the seal's name")
    if stem.name.endswith(".pem"):
        raise ValueError(
            f"seal reference {ref!r}: name the seal without '.pem' (file:/path/slug reads "
            "slug.pem and slug.key.pem)"
        )
    return stem


def _load_file_seal(
    stem: Path,
    certificate_pem: bytes | None = None,
    chain: Sequence[x509.Certificate] = (),
) -> FileSealKey:
    certificate_path, key_path = _seal_files(stem)
    if not key_path.is_file():
        raise FileNotFoundError(f"seal key file {key_path} not found")
    if certificate_pem is None:
        if not certificate_path.is_file():
            raise FileNotFoundError(f"seal certificate file {certificate_path} not found")
        certificate_pem = certificate_path.read_bytes()
    certificate, bundled = read_certificate_bundle(certificate_pem, str(certificate_path))
    key = read_private_key(key_path)
    if key.public_key() != certificate.public_key():
        raise ValueError(
            f"the certificate {certificate.subject.rfc4514_string()} does not belong to the "
            f"key in {key_path}"
        )
    return FileSealKey(private_key=key, certificate=certificate, chain=tuple(chain) or bundled)
