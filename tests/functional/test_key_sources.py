"""Keys beside the data (issue 6, part 6): with PostgreSQL configured the portal refuses to start
when its KEK or a private key would come from a plain file in the instance folder; a KEK from the
environment or inside a PKCS#11 token (SoftHSM2) and passphrase-encrypted key files do start it,
and an existing instance's KEK moves into the token without rewriting a stored object.

The refusal comes before any database connection, so in the embedded profile these tests give the
portal a PostgreSQL URL that is never reached; in the services profile it is the real one."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.config import Config
from app.keys import KeySetupError
from app.runtime import Runtime
from directory.api_clients import create_api_client, webhook_secret
from directory.models import ApiClient, Authority
from signing.token_kek import create_token_kek, load_token_kek
from storage.blobs import Blob
from storage.encryption import EncryptedObjects, KeyEncryptionKey, kek_from_base64
from storage.group_keys import GroupKey
from tests.conftest import csrf_token, login, post_multipart
from tests.support.services import free_port, portal_executable
from tests.support.softhsm import SoftHsmToken

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
SETTINGS = ("PORTAL_KEK", "PORTAL_KEK_REF", "PORTAL_KEK_FILE", "PORTAL_KEY_PASSPHRASE")


@pytest.fixture(autouse=True)
def _no_key_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SETTINGS, "PORTAL_ALLOW_LOCAL_KEYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def production(runtime: Runtime, tmp_path: Path) -> Config:
    """A portal of its own instance folder on PostgreSQL, with no key settings at all."""
    url = runtime.config.database_url
    if not url.startswith("postgresql"):
        url = "postgresql+psycopg://127.0.0.1:9/never_reached"
    return dataclasses.replace(
        runtime.config,
        instance_path=tmp_path / "instance",
        keys_dir=tmp_path / "instance" / "keys",
        database_url=url,
        redis_url=None,  # jobs in-process: the suite's worker has other keys
        kek=None,
        allow_local_keys=False,
    )


@pytest.fixture
def reachable(production: Config, runtime: Runtime) -> Config:
    """As `production`, on the suite's database: PostgreSQL in the services profile (where the
    refusal applies), SQLite in the embedded one (where it does not, but the keys work alike)."""
    return dataclasses.replace(production, database_url=runtime.config.database_url)


@pytest.fixture
def token(softhsm: SoftHsmToken, monkeypatch: pytest.MonkeyPatch) -> SoftHsmToken:
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    return softhsm


def _kek_ref(token: SoftHsmToken) -> str:
    return f"pkcs11:token={token.label};object=kek-{uuid.uuid4().hex[:8]}"


# --- the refusal -------------------------------------------------------------------------------


def test_create_app_refuses_local_keys_with_postgresql(production: Config) -> None:
    # An instance that ran with local keys once (kek.b64, plain key files) and now has no opt-in.
    create_app(dataclasses.replace(production, allow_local_keys=True)).extensions["portal"].close()
    assert (production.instance_path / "kek.b64").is_file()

    with pytest.raises(KeySetupError) as refused:
        create_app(production)
    message = str(refused.value)
    assert "\n" not in message
    assert str(production.instance_path / "kek.b64") in message
    for setting in (*SETTINGS[:2], "PORTAL_KEY_PASSPHRASE", "PORTAL_ALLOW_LOCAL_KEYS=1"):
        assert setting in message


def test_a_fresh_instance_is_refused_before_anything_is_created(production: Config) -> None:
    with pytest.raises(KeySetupError, match="PORTAL_KEK"):
        Runtime(production)
    assert not (production.instance_path / "kek.b64").exists()
    assert not production.keys_dir.exists()


@pytest.mark.parametrize(
    ("settings", "named", "not_named"),
    [
        ({"kek": "env"}, "PORTAL_KEY_PASSPHRASE", "PORTAL_KEK_REF"),
        ({"passphrase": True}, "PORTAL_KEK_REF", "PORTAL_KEY_PASSPHRASE"),
        ({"passphrase": True, "kek_file": "inside"}, "is in the instance folder", "PASSPHRASE"),
        ({"passphrase": True, "kek": "env", "plain_seal": True}, "portal keys protect", "KEK_"),
    ],
)
def test_each_missing_setting_is_named(
    production: Config,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    named: str,
    not_named: str,
) -> None:
    encoded = base64.b64encode(os.urandom(32)).decode()
    config = production
    if settings.get("kek") == "env":
        config = dataclasses.replace(config, kek=encoded)
    if settings.get("kek_file") == "inside":
        path = config.instance_path / "secrets" / "kek.b64"
        path.parent.mkdir(parents=True)
        path.write_text(encoded)
        config = dataclasses.replace(config, kek_file=path)
    if settings.get("plain_seal"):
        # An authority's file seal left unencrypted: found at start, not mid-request.
        (config.keys_dir / "authorities").mkdir(parents=True)
        (config.keys_dir / "authorities" / "kriens.key.pem").write_text(
            "-----BEGIN PRIVATE KEY-----\n"
        )
    if settings.get("passphrase"):
        monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", PASSPHRASE)
    with pytest.raises(KeySetupError) as refused:
        Runtime(config)
    assert named in str(refused.value) and not_named not in str(refused.value)
    assert PASSPHRASE not in str(refused.value) and encoded not in str(refused.value)


def test_a_kek_file_outside_the_instance_folder_is_accepted(
    production: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A systemd credential or a mounted secret; read, never created.
    path = tmp_path / "credentials" / "kek"
    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", PASSPHRASE)
    config = dataclasses.replace(production, kek_file=path)
    with pytest.raises(KeySetupError, match="PORTAL_KEK_FILE .*No such file"):
        Runtime(config)
    assert not path.exists()
    path.parent.mkdir()
    path.write_text(base64.b64encode(bytes(range(32))).decode())
    runtime = Runtime(config)
    assert runtime.objects.kek.key_id == KeyEncryptionKey(bytes(range(32))).key_id
    runtime.close()
    with pytest.raises(KeySetupError, match="set only one of PORTAL_KEK and PORTAL_KEK_FILE"):
        Runtime(dataclasses.replace(config, kek=path.read_text()))


def test_the_opt_in_accepts_local_keys(production: Config) -> None:
    Runtime(dataclasses.replace(production, allow_local_keys=True)).close()
    assert (production.instance_path / "kek.b64").is_file()


def test_the_embedded_demo_keeps_its_keys_in_the_instance_folder(production: Config) -> None:
    sqlite = f"sqlite:///{production.instance_path / 'portal.sqlite3'}"
    Runtime(dataclasses.replace(production, database_url=sqlite)).close()
    assert (production.instance_path / "kek.b64").is_file()
    assert b"BEGIN PRIVATE KEY" in (production.keys_dir / "seal.key.pem").read_bytes()


def _run(command: list[str], config: Config, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **config.as_env(), **extra}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.mark.parametrize(
    "command",
    [["worker", "--burst"], ["serve", "--port", "0"], ["scheduler"], ["db", "upgrade"]],
    ids=["worker", "serve", "scheduler", "db"],
)
def test_the_portal_command_refuses_in_one_line(production: Config, command: list[str]) -> None:
    redis = {"PORTAL_REDIS_URL": "redis://127.0.0.1:9/0"}  # never reached either
    result = _run([portal_executable(), *command], production, **redis)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # One line (`db` may log alembic's start-up before it).
    line = result.stderr.splitlines()[-1]
    assert line.startswith("Error: refusing to start with PostgreSQL")
    assert "PORTAL_KEK" in line and "PORTAL_KEY_PASSPHRASE" in line


def test_gunicorn_refuses_in_one_line_before_booting_workers(production: Config) -> None:
    # From the project root gunicorn reads gunicorn.conf.py: its master checks the keys.
    gunicorn = str(Path(portal_executable()).parent / "gunicorn")
    command = [gunicorn, "--workers=2", f"--bind=127.0.0.1:{free_port()}", "wsgi:app"]
    result = _run(command, production)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "refusing" in line]
    assert line.startswith("Error: portal: refusing to start with PostgreSQL")


def test_a_worker_refuses_in_one_line_without_that_config(
    production: Config, tmp_path: Path
) -> None:
    # Another gunicorn config (or another WSGI server): wsgi.py refuses in the worker, and exits
    # with gunicorn's "App failed to load" so that the master stops instead of respawning it.
    gunicorn = str(Path(portal_executable()).parent / "gunicorn")
    (tmp_path / "other.conf.py").write_text("workers = 1\n")
    command = [gunicorn, f"--config={tmp_path / 'other.conf.py'}", "--bind=127.0.0.1:0", "wsgi:app"]
    result = _run(command, production)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("portal: ")]
    assert "refusing to start with PostgreSQL" in line and "PORTAL_KEY_PASSPHRASE" in line


# --- keys that start it ------------------------------------------------------------------------


@contextlib.contextmanager
def portal(config: Config) -> Iterator[Flask]:
    app = create_app(config)
    try:
        yield app
    finally:
        app.extensions["portal"].close()


def deliver(app: Flask, demo: dict[str, Any], letter: bytes) -> None:
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    page = clerk.get("/office/deliver")
    response = post_multipart(
        clerk,
        "/office/deliver",
        {
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "recipient": demo["resident"]["ahvn13"],
            "kind": "decision",
            "subject": "Baubewilligung Nr. 2026-17",
            "body": "Bitte beachten Sie die Rechtsmittelbelehrung.",
            "files": [(io.BytesIO(letter), "verfuegung.pdf")],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def read(app: Flask, demo: dict[str, Any]) -> bytes:
    """What the resident downloads after opening the delivery."""
    resident = app.test_client()
    login(resident, demo["resident"])
    inbox = resident.get("/").get_data(as_text=True)
    message_url = re.search(r'href="(/messages/[0-9a-f-]+)"', inbox).group(1)  # type: ignore[union-attr]
    page = resident.get(message_url).get_data(as_text=True)
    if "/documents/" not in page:
        resident.post(message_url + "/open", data={"csrf_token": csrf_token(page)})
        page = resident.get(message_url).get_data(as_text=True)
    download_url = re.search(r'href="(/documents/[0-9a-f-]+)"', page).group(1)  # type: ignore[union-attr]
    download = resident.get(download_url)
    assert download.status_code == 200
    return download.data


def _stored(app: Flask, letter: bytes) -> Blob:
    """The letter's row; its object in the store holds none of the plaintext."""
    runtime: Runtime = app.extensions["portal"]
    with runtime.sessions() as session:
        blobs = session.scalars(select(Blob).order_by(Blob.created_at)).all()
    blob = next(b for b in blobs if b.size == len(letter))
    with runtime.objects.store.open(blob.key) as stream:
        raw = stream.read()
    assert letter[:200] not in raw and b"Verf" not in raw
    return blob


def test_kek_from_the_environment_and_a_passphrase_start_the_portal(
    reachable: Config, monkeypatch: pytest.MonkeyPatch, demo: dict[str, Any], pdf: Any
) -> None:
    encoded = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", PASSPHRASE)
    letter = pdf("Verfügung mit dem KEK aus der Umgebung")
    with portal(dataclasses.replace(reachable, kek=encoded)) as app:
        deliver(app, demo, letter)
        assert read(app, demo) == letter
        assert _stored(app, letter).kek_id == kek_from_base64(encoded).key_id
    assert not (reachable.instance_path / "kek.b64").exists()
    for name in ("ca.key.pem", "seal.key.pem"):
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in (reachable.keys_dir / name).read_bytes()


def test_kek_inside_softhsm_stores_and_reads_documents(
    reachable: Config,
    monkeypatch: pytest.MonkeyPatch,
    token: SoftHsmToken,
    demo: dict[str, Any],
    pdf: Any,
) -> None:
    ref = _kek_ref(token)
    token_kek = create_token_kek(ref)
    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", PASSPHRASE)
    letter = pdf("Verfügung mit dem KEK im HSM")
    with portal(dataclasses.replace(reachable, kek_ref=ref)) as app:
        deliver(app, demo, letter)
        assert read(app, demo) == letter
        blob = _stored(app, letter)
        store = app.extensions["portal"].objects.store
        with app.extensions["portal"].sessions() as session:
            group = session.get_one(GroupKey, blob.group_id)
    assert blob.kek_id == group.kek_id == token_kek.key_id
    # The token's KEK unwraps the case file's key, which unwraps the document's data key.
    case_key = KeyEncryptionKey(token_kek.unwrap(group.wrapped_key))
    data_key = case_key.unwrap(blob.wrapped_key)
    assert len(blob.wrapped_key) == 40 and data_key not in blob.wrapped_key
    with EncryptedObjects(store, token_kek).open(blob.key, blob.wrapped_key, case_key) as chunks:
        assert b"".join(chunks) == letter
    assert not (reachable.instance_path / "kek.b64").exists()


def _legacy_secret(kek: KeyEncryptionKey, secret: bytes) -> bytes:
    # Format 1 as webhook secrets were sealed before (pinned in tests/unit/storage/test_secrets).
    info = b"einwohnerportal row secrets v1"
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(kek.key)
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(derived).encrypt(nonce, secret, b"\x01")


def test_an_instance_moves_its_kek_into_the_token_without_rewriting_objects(
    reachable: Config,
    monkeypatch: pytest.MonkeyPatch,
    token: SoftHsmToken,
    demo: dict[str, Any],
    pdf: Any,
) -> None:
    letter = pdf("Verfügung von gestern")
    local = dataclasses.replace(reachable, allow_local_keys=True)
    with portal(local) as app:  # as it ran until today: kek.b64 and plain key files
        deliver(app, demo, letter)
        before = _stored(app, letter)
        with app.extensions["portal"].transaction() as session:
            authority = session.scalars(select(Authority)).first()
            client = create_api_client(session, authority, "Altes Fachsystem")
            kek = kek_from_base64((reachable.instance_path / "kek.b64").read_text())
            client.webhook_secret = _legacy_secret(kek, b"whsec_old")
            client_id = client.id

    # The same bytes from the environment read the old object.
    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", PASSPHRASE)
    protected = _run([portal_executable(), "keys", "protect"], local, **_pass_env())
    assert protected.returncode == 0, protected.stderr
    encoded = base64.b64encode(kek.key).decode()
    with portal(dataclasses.replace(reachable, kek=encoded)) as app:
        assert read(app, demo) == letter

    # Into the token, as an operator does it, then the file goes.
    ref = _kek_ref(token)
    moved = _run([portal_executable(), "keys", "import-kek", ref], local, **_pass_env())
    assert moved.returncode == 0, moved.stderr
    assert f"imported KEK {kek.key_id}" in moved.stdout
    assert "resealed 1 webhook secret" in moved.stdout
    (reachable.instance_path / "kek.b64").unlink()

    with portal(dataclasses.replace(reachable, kek_ref=ref)) as app:
        assert read(app, demo) == letter
        runtime: Runtime = app.extensions["portal"]
        with runtime.sessions() as session:
            after = session.get(Blob, before.id)
            assert after is not None and after.wrapped_key == before.wrapped_key  # not rewritten
            assert after.kek_id == load_token_kek(ref).key_id == kek.key_id
            api_client = session.get(ApiClient, client_id)
            assert api_client is not None
            assert webhook_secret(session, api_client) == b"whsec_old"


def _pass_env() -> dict[str, str]:
    """The environment a `portal keys` process needs: passphrase, PKCS#11 and SoftHSM2 settings."""
    names = ("PORTAL_KEY_PASSPHRASE", "PORTAL_PKCS11_MODULE", "PORTAL_PKCS11_PIN", "SOFTHSM2_CONF")
    return {name: os.environ[name] for name in names if name in os.environ}
