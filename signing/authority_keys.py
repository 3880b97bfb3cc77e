"""Authorities' seal keys: issued into files by the portal's CA, or held in a PKCS#11 token.

An authority's seal is named by a reference string, kept in its configuration:

- ``file:/abs/path/to/slug``: the certificate in ``slug.pem`` (followed by its issuers, as
  `issue_authority_seal` writes it) and the key in ``slug.key.pem`` (encrypted with
  PORTAL_KEY_PASSPHRASE when that is set, like the portal's own keys);
- ``pkcs11:token=<token label>;object=<key label>`` (RFC 7512, values percent-encoded): the
  key in a token of the module PORTAL_PKCS11_MODULE (default SoftHSM2's), opened with the PIN
  in PORTAL_PKCS11_PIN; the certificate is the token's certificate object with the key's
  label unless one is passed. The PIN never goes into a reference: references get logged.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.keys import (
    RETIRED_FOLDER,
    Keyring,
    SealKey,
    _exclusive_lock,
    _read_private_key,
    _write_atomically,
    _write_private_key,
    certificate_fingerprint,
    issue_certificate_for_public_key,
)
from signing.pkcs11_refs import parse_pkcs11_ref
from signing.tokens import (
    Pkcs11SealKey,
    check_key,
    pin_from_env,
    read_token_certificate,
    read_write_session,
    unwrap_ec_point,
)

SEAL_PREFIX = "Siegel"
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")
# The portal's own files in a keyring folder; an authority must never overwrite them.
_RESERVED_SLUGS = frozenset({"ca", "seal"})
_LOCK_FILE = ".seals.lock"


def issue_authority_seal(keyring: Keyring, folder: Path, slug: str, name: str) -> SealKey:
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
    with _exclusive_lock(folder / _LOCK_FILE):
        if certificate_path.is_file() and key_path.is_file():
            return _load_file_seal(folder / slug)
        if certificate_path.is_file():
            _retire(certificate_path, folder)
        if key_path.is_file():
            key = _read_private_key(key_path)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            # Key before certificate: a certificate on disk always has its key next to it.
            _write_private_key(key_path, key)
        certificate = issue_certificate_for_public_key(
            keyring, key.public_key(), f"{SEAL_PREFIX} {name}", name
        )
        chain = (keyring.ca_certificate,)
        _write_certificates(certificate_path, (certificate, *chain))
    return SealKey(private_key=key, certificate=certificate, chain=chain)


def load_seal(
    ref: str,
    certificate_pem: bytes | None = None,
    *,
    chain: Sequence[x509.Certificate] = (),
) -> SealKey | Pkcs11SealKey:
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
        return _load_token_seal(ref, certificate_pem, chain)
    # Not echoed: a garbled reference might hold a secret.
    raise ValueError(
        "a seal reference starts with 'file:' (file:/abs/path/to/slug) or 'pkcs11:' "
        "(pkcs11:token=<label>;object=<key label>)"
    )


def generate_token_key(
    module_path: str,
    token_label: str,
    pin: str,
    key_label: str,
    keyring: Keyring,
    common_name: str,
    organisation: str,
) -> Pkcs11SealKey:
    """Generate an EC P-256 key pair inside the token and issue its certificate with the CA.

    The private key is sensitive and not extractable: it never leaves the token. The
    certificate is stored in the token with the key's label and id, so that
    ``pkcs11:token=<token_label>;object=<key_label>`` finds both. A label already in use is
    refused rather than duplicated.
    """
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters
    from pkcs11.util.x509 import decode_x509_certificate

    if not key_label:
        raise ValueError("the key needs a label")
    if keyring.ca_key is None:
        raise ValueError("the keyring has no CA private key, so it cannot issue certificates")
    with read_write_session(module_path, token_label, pin) as session:
        if list(session.get_objects({Attribute.LABEL: key_label})):
            raise ValueError(
                f"token {token_label!r} already holds objects labelled {key_label!r}: "
                "choose another label, or load that key with load_seal"
            )
        parameters = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        object_id = secrets.token_bytes(16)
        public, private = parameters.generate_keypair(
            store=True,
            label=key_label,
            id=object_id,
            public_template={Attribute.VERIFY: True},
            private_template={
                Attribute.SIGN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
            },
        )
        try:
            point = unwrap_ec_point(bytes(public[Attribute.EC_POINT]))
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            certificate = issue_certificate_for_public_key(
                keyring, public_key, common_name, organisation
            )
            template = decode_x509_certificate(certificate.public_bytes(serialization.Encoding.DER))
            template.update(
                {
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: key_label,
                    Attribute.ID: object_id,
                }
            )
            session.create_object(template)
        except BaseException:
            # No half-made seal in the token: a key without certificate under a taken label.
            for handle in (private, public):
                try:
                    handle.destroy()
                except Exception:  # noqa: S112 - the original error matters, not this one
                    continue
            raise
    return Pkcs11SealKey(
        module_path=module_path,
        token_label=token_label,
        key_label=key_label,
        pin=pin,
        certificate=certificate,
        chain=(keyring.ca_certificate,),
    )


# --- files -----------------------------------------------------------------------------------


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
) -> SealKey:
    certificate_path, key_path = _seal_files(stem)
    if not key_path.is_file():
        raise FileNotFoundError(f"seal key file {key_path} not found")
    if certificate_pem is None:
        if not certificate_path.is_file():
            raise FileNotFoundError(f"seal certificate file {certificate_path} not found")
        certificate_pem = certificate_path.read_bytes()
    certificate, bundled = _certificates(certificate_pem, str(certificate_path))
    key = _read_private_key(key_path)
    if key.public_key() != certificate.public_key():
        raise ValueError(
            f"the certificate {certificate.subject.rfc4514_string()} does not belong to the "
            f"key in {key_path}"
        )
    return SealKey(private_key=key, certificate=certificate, chain=tuple(chain) or bundled)


def _certificates(pem: bytes, origin: str) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise ValueError(f"cannot read the seal certificate ({origin}): {error}") from error
    return certificates[0], tuple(certificates[1:])


def _write_certificates(path: Path, certificates: Sequence[x509.Certificate]) -> None:
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    _write_atomically(path, pem, mode=0o644)


def _retire(certificate_path: Path, folder: Path) -> None:
    # Signatures made with the lost key must stay verifiable: keep the certificate.
    certificate, _ = _certificates(certificate_path.read_bytes(), str(certificate_path))
    retired = folder / RETIRED_FOLDER
    retired.mkdir(exist_ok=True)
    _write_certificates(retired / f"{certificate_fingerprint(certificate)}.pem", (certificate,))
    certificate_path.unlink()


# --- tokens ----------------------------------------------------------------------------------


def _load_token_seal(
    ref: str,
    certificate_pem: bytes | None,
    chain: Sequence[x509.Certificate],
) -> Pkcs11SealKey:
    token_label, key_label, module_path = _parse_pkcs11_ref(ref)
    pin = pin_from_env(token_label)
    bundled: tuple[x509.Certificate, ...] = ()
    if certificate_pem is not None:
        certificate, bundled = _certificates(certificate_pem, "certificate_pem")
    else:
        certificate = read_token_certificate(module_path, token_label, pin, key_label)
    key = Pkcs11SealKey(
        module_path=module_path,
        token_label=token_label,
        key_label=key_label,
        pin=pin,
        certificate=certificate,
        chain=tuple(chain) or bundled,
    )
    check_key(key)
    return key


def _parse_pkcs11_ref(ref: str) -> tuple[str, str, str]:
    """Return (token label, key label, module path). Errors never echo the reference."""
    parsed = parse_pkcs11_ref(ref, what="seal", object_type="private")
    return parsed.token_label, parsed.object_label, parsed.module_path
