"""`portal keys …`: moving an instance's keys away from its data (see app/keys.py).

None of these build the Runtime: they are what an operator runs when the portal refuses to
start because its keys lie beside the data.
"""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Config
from app.keys import AUTHORITY_SEALS, load_local_kek
from storage.db import make_engine
from storage.encryption import KeyEncryptionKey, WrappingKey
from storage.secrets import SecretBox, reseal

_REF_HELP = "pkcs11:token=LABEL;object=LABEL (PIN in PORTAL_PKCS11_PIN)"


@click.group(help="The portal's keys: move the KEK into a token, encrypt key files.")
def keys() -> None:
    pass


@keys.command(
    "import-kek",
    help="Copy the KEK now in use (PORTAL_KEK, PORTAL_KEK_FILE or instance/kek.b64) into a "
    "PKCS#11 token, not extractable. Stored objects stay as they are: the token unwraps their "
    "keys. Webhook secrets of the old format are resealed first.",
)
@click.argument("ref", metavar="REF")
def import_kek(ref: str) -> None:
    from signing.token_kek import import_kek as import_into_token

    config = Config.from_env()
    local = load_local_kek(config, create=False)
    resealed = _reseal_secrets(config, local)
    try:
        token_kek = import_into_token(ref, local.key, local.key_id)
    except (ValueError, LookupError, OSError, ImportError) as error:
        raise click.ClickException(str(error)) from None
    checked = _check_same_key(config, local, token_kek)
    click.echo(f"resealed {resealed} webhook secret(s) of the old format")
    click.echo(f"imported KEK {token_kek.key_id} into token {token_kek.token_label!r}")
    click.echo(f"checked: the token unwraps {checked} stored data key(s) like the old KEK")
    click.echo(
        f"Now set PORTAL_KEK_REF={ref}, unset PORTAL_KEK / PORTAL_KEK_FILE, and delete the old "
        "KEK from the server (keep an offline backup: a token can break)."
    )


@keys.command(
    "create-kek",
    help="Generate a new KEK inside a PKCS#11 token, for a new instance (an instance with "
    "data imports its KEK instead).",
)
@click.argument("ref", metavar="REF")
def create_kek(ref: str) -> None:
    from signing.token_kek import create_token_kek

    try:
        token_kek = create_token_kek(ref)
    except (ValueError, LookupError, OSError, ImportError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created KEK {token_kek.key_id} in token {token_kek.token_label!r}")
    click.echo(f"Now set PORTAL_KEK_REF={ref}")


@keys.command(
    "reseal-secrets",
    help="Rewrite webhook secrets of the old format (sealed with a key derived from the KEK's "
    "own bytes) in the current one, which a KEK inside a token can read.",
)
def reseal_secrets() -> None:
    config = Config.from_env()
    click.echo(f"resealed {_reseal_secrets(config, load_local_kek(config, create=False))}")


@keys.command(
    "protect",
    help="Encrypt the plain private key files in PORTAL_KEYS_DIR (the CA, the portal's seal, "
    "authorities' file seals) with PORTAL_KEY_PASSPHRASE.",
)
def protect() -> None:
    from signing.key_files import protect_key_files

    config = Config.from_env()
    folders = (config.keys_dir, config.keys_dir / AUTHORITY_SEALS)
    try:
        done = [path for folder in folders for path in protect_key_files(folder)]
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    for path in done:
        click.echo(f"encrypted {path}")
    click.echo(f"{len(done)} key file(s) encrypted")


def _reseal_secrets(config: Config, kek: KeyEncryptionKey) -> int:
    from directory.models import ApiClient

    box = SecretBox(kek)
    engine = make_engine(config.database_url)
    try:
        with Session(engine) as session, session.begin():
            clients = session.scalars(
                select(ApiClient).where(ApiClient.webhook_secret.is_not(None)).with_for_update()
            ).all()
            changed = 0
            for client in clients:
                assert client.webhook_secret is not None  # selected so
                if box.needs_reseal(client.webhook_secret):
                    client.webhook_secret = reseal(box, client.webhook_secret)
                    changed += 1
        return changed
    finally:
        engine.dispose()


def _check_same_key(config: Config, local: KeyEncryptionKey, token_kek: WrappingKey) -> int:
    """Unwrap a few stored data keys with both KEKs; they must agree before anyone relies on it."""
    from storage.blobs import Blob
    from storage.group_keys import GroupKey

    probe = local.wrap(bytes(32))
    if token_kek.unwrap(probe) != bytes(32):
        raise click.ClickException("the token's KEK does not unwrap what the old KEK wrapped")
    engine = make_engine(config.database_url)
    try:
        with Session(engine) as session:
            # Data keys the KEK wraps itself, and case files' keys (storage.group_keys), which
            # wrap the data keys of their objects.
            mine = (
                select(Blob.wrapped_key)
                .where(Blob.kek_id == local.key_id, Blob.group_id.is_(None))
                .limit(20)
            )
            groups = select(GroupKey.wrapped_key).where(GroupKey.kek_id == local.key_id).limit(20)
            wrapped = [*session.scalars(mine), *session.scalars(groups)]
    finally:
        engine.dispose()
    for key in wrapped:
        if token_kek.unwrap(key) != local.unwrap(key):
            raise click.ClickException("the token's KEK unwraps a stored key differently")
    return len(wrapped)
