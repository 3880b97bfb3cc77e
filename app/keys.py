"""Where the portal's keys come from: the one place that loads them, for web, CLI and workers.

The key-encryption key (KEK), one of:

- PORTAL_KEK: base64 of 32 bytes, from the environment;
- PORTAL_KEK_FILE: a file holding that, which must exist (a systemd credential, a mounted
  secret); never created here;
- PORTAL_KEK_REF: ``pkcs11:token=<label>;object=<label>``, an AES key inside a PKCS#11 token
  (module PORTAL_PKCS11_MODULE, PIN PORTAL_PKCS11_PIN) that wraps and unwraps there;
- none of these: ``instance/kek.b64``, created on first start (the embedded demo).

The private keys (the portal's CA and seal, authorities' file seals, the portal's own
time-stamping key when no PORTAL_TSA_URL is set) are PEM files in PORTAL_KEYS_DIR, encrypted with
PORTAL_KEY_PASSPHRASE when that is set.

With PostgreSQL configured (production), keys that a copy of the server's disk would give away
are refused: a KEK from the instance folder, private key files without a passphrase. The portal
then does not start, and says in one line what to set; PORTAL_ALLOW_LOCAL_KEYS=1 accepts them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from app.config import Config
from signing import Keyring, load_or_create_keyring
from signing.key_files import PASSPHRASE_ENV, passphrase_is_set
from signing.timestamps import TSA_COMMON_NAME, TimeStampingAuthority, embedded_tsa, http_tsa
from signing.tsa_key import load_or_create_tsa_key
from storage.encryption import (
    KeyEncryptionKey,
    WrappingKey,
    kek_from_base64,
    load_or_create_kek,
)

log = logging.getLogger(__name__)

ALLOW_ENV = "PORTAL_ALLOW_LOCAL_KEYS"
DEMO_KEK_FILE = "kek.b64"
AUTHORITY_SEALS = "authorities"  # the folder in PORTAL_KEYS_DIR where the CA issues file seals
_KEK_SETTINGS = "PORTAL_KEK (base64 of 32 bytes) or PORTAL_KEK_REF (pkcs11:token=…;object=…)"


class KeySetupError(Exception):
    """The keys cannot be had as configured. The message is one line for the operator, with
    the setting to change, and never holds a secret."""


@dataclass(frozen=True)
class Keys:
    kek: WrappingKey
    keyring: Keyring


def load_keys(config: Config) -> Keys:
    """The KEK and the keyring, as configured; KeySetupError if they are refused or missing."""
    check_key_sources(config)
    kek = load_kek(config)
    try:
        keyring = load_or_create_keyring(config.keys_dir)
    except (ValueError, OSError) as error:
        raise KeySetupError(f"the portal's keyring cannot be loaded: {error}") from error
    keyring.tsa = load_tsa(config, keyring)
    return Keys(kek, keyring)


def load_tsa(config: Config, keyring: Keyring) -> TimeStampingAuthority | None:
    """Who time-stamps: the TSA at PORTAL_TSA_URL, else the portal's own TSA key (issued by
    its CA into the keys folder). None, with a warning, if neither can be had."""
    if config.tsa_url:
        if config.tsa_ca_file is None:
            raise KeySetupError(
                "PORTAL_TSA_URL is set without PORTAL_TSA_CA, the PEM file of the root(s) its "
                "certificate chains to: without it no time-stamp can be checked"
            )
        try:
            roots = x509.load_pem_x509_certificates(config.tsa_ca_file.read_bytes())
        except (ValueError, OSError) as error:
            raise KeySetupError(f"PORTAL_TSA_CA cannot be read: {error}") from error
        return http_tsa(config.tsa_url, roots)
    try:
        return embedded_tsa(load_or_create_tsa_key(config.keys_dir, keyring, TSA_COMMON_NAME))
    except (ValueError, OSError) as error:
        # Receipts are then sealed without a timestamp, and `portal anchor` says why it can't.
        log.warning("no time-stamping authority: %s", error)
        return None


def load_kek(config: Config) -> WrappingKey:
    """The configured KEK: inside a token (PORTAL_KEK_REF) or held in memory."""
    if config.kek_ref and (config.kek or config.kek_file):
        raise KeySetupError(_one_kek(config))
    if not config.kek_ref:
        return load_local_kek(config)
    try:
        # Imported here: python-pkcs11 and its native module only when a token is used.
        from signing.token_kek import load_token_kek

        return load_token_kek(config.kek_ref)
    except (ValueError, LookupError, OSError, ImportError) as error:
        # OSError includes a missing or refused PIN (signing.TokenLoginError).
        problem = f"the key-encryption key (PORTAL_KEK_REF) cannot be loaded: {error}"
        raise KeySetupError(problem) from error


def load_local_kek(config: Config, *, create: bool = True) -> KeyEncryptionKey:
    """The KEK held in memory: PORTAL_KEK, PORTAL_KEK_FILE or the demo's instance/kek.b64
    (created only if `create`). For moving it into a token (`portal keys import-kek`)."""
    if config.kek and config.kek_file:
        raise KeySetupError(_one_kek(config))
    path = config.kek_file or config.instance_path / DEMO_KEK_FILE
    setting = "PORTAL_KEK" if config.kek else f"PORTAL_KEK_FILE {path}" if config.kek_file else path
    try:
        if config.kek:
            return kek_from_base64(config.kek)
        if config.kek_file:
            return kek_from_base64(config.kek_file.read_text("ascii"))
        if not create and not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        return load_or_create_kek(path)
    except (ValueError, OSError) as error:
        problem = f"the key-encryption key ({setting}) cannot be loaded: {error}"
        raise KeySetupError(problem) from error


def _one_kek(config: Config) -> str:
    given = [
        name
        for name, value in (
            ("PORTAL_KEK", config.kek),
            ("PORTAL_KEK_REF", config.kek_ref),
            ("PORTAL_KEK_FILE", config.kek_file),
        )
        if value
    ]
    return f"set only one of {' and '.join(given)}: each names the key-encryption key"


def check_key_sources(config: Config) -> None:
    """Refuse keys beside the data when PostgreSQL is configured (see the module docstring)."""
    if not config.database_url.startswith("postgresql"):
        return  # the embedded demo: its keys live in the instance folder, as the README says
    problems, settings = [], []
    if not (config.kek or config.kek_ref or config.kek_file):
        problems.append(f"the key-encryption key would be {config.instance_path / DEMO_KEK_FILE}")
        settings.append(_KEK_SETTINGS)
    elif config.kek_file and _inside(config.kek_file, config.instance_path):
        problems.append(f"PORTAL_KEK_FILE {config.kek_file} is in the instance folder")
        settings.append(f"PORTAL_KEK_FILE to a file outside it, {_KEK_SETTINGS}")
    if not passphrase_is_set():
        problems.append(f"the private keys in {config.keys_dir} would be unencrypted files")
        settings.append(PASSPHRASE_ENV)
    else:
        plain = _plain_key_files(config.keys_dir)
        if plain:
            problems.append(f"{plain[0]} is an unencrypted private key")
            settings.append(f"encrypt the key files with `portal keys protect` ({PASSPHRASE_ENV})")
    if not problems:
        return
    if config.allow_local_keys:
        log.warning(
            "%s=1: with PostgreSQL, %s; a copy of the server's disk decrypts every document",
            ALLOW_ENV,
            "; ".join(problems),
        )
        return
    raise KeySetupError(
        f"refusing to start with PostgreSQL: {'; '.join(problems)}. "
        f"Set {'; and '.join(settings)}. Or set {ALLOW_ENV}=1 to accept keys beside the data."
    )


def _plain_key_files(keys_dir: Path) -> list[Path]:
    # The keyring's own files are checked again when loaded; authorities' file seals are read
    # only when an authority seals, so without this a plain one would surface mid-request.
    folders = (keys_dir, keys_dir / AUTHORITY_SEALS)
    files = [path for folder in folders for path in sorted(folder.glob("*.key.pem"))]
    return [path for path in files if b"ENCRYPTED" not in path.read_bytes()[:200]]


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def refuse_before_workers(_server: object) -> None:
    """gunicorn's on_starting hook (gunicorn.conf.py): check the key sources in the master.

    Each worker would refuse on its own (wsgi.py), but several refusing at once trip gunicorn
    into a traceback of its own; checked here, the master stops with the one line.
    """
    try:
        check_key_sources(Config.from_env())
    except KeySetupError as error:
        # gunicorn prints a RuntimeError from its start-up as "Error: …" and exits with 1.
        raise RuntimeError(f"portal: {error}") from None
