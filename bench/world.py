"""The bench's world: a fresh PostgreSQL database, residents in bulk, the letters to send."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import psycopg
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas
from sqlalchemy import Table, insert

from app.runtime import Runtime
from directory.actors import Actor
from directory.api_clients import create_api_client, create_api_key
from directory.consent_chain import new_consent_chain
from directory.identifiers import normalize_ahvn13
from directory.models import Account, AuthorityLevel, Consent, ConsentEntry, Party, PartyKind, Role
from directory.operations import password_hasher, register_authority
from storage.db import utcnow

PLACEHOLDER = b"LETTER-0000000000"
ADMIN_URL = os.environ.get("PORTAL_BENCH_POSTGRES", "postgresql://127.0.0.1:5432/postgres")


def create_database() -> tuple[str, Callable[[], None]]:
    """A fresh database (as tests/support/services.py makes one) and the function dropping it."""
    name = f"portal_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", drop


def ahvn13(n: int) -> str:
    """The n-th made-up AHV number, with a valid check digit."""
    digits = f"756{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return normalize_ahvn13(digits + str((10 - total % 10) % 10))


def seed(runtime: Runtime, n: int, with_email: bool) -> dict[str, Any]:
    """N residents with accounts and consent (bulk inserts, one shared password hash), an
    authority, and its API client with a key."""
    shared_hash = password_hasher().hash("bench-password-not-used")
    now = utcnow()
    parties, accounts, consents, chains = [], [], [], []
    for i in range(n):
        party_id, account_id = uuid.uuid4(), uuid.uuid4()
        name = f"Person {i:06d}"
        parties.append(
            {
                "id": party_id,
                "kind": PartyKind.PERSON,
                "display_name": name,
                "given_name": "Person",
                "family_name": f"{i:06d}",
                "ahvn13": ahvn13(i),
                "email": f"person{i}@bench.example" if with_email else None,
                "created_at": now,
            }
        )
        accounts.append(
            {
                "id": account_id,
                "login": f"person{i}@bench.example",
                "password_hash": shared_hash,
                "role": Role.RESIDENT,
                "display_name": name,
                "party_id": party_id,
                "is_active": True,
                "created_at": now,
            }
        )
        consents.append(
            {"id": uuid.uuid4(), "party_id": party_id, "given_at": now, "given_by": name}
        )
        # Consent is given as give_consent gives it: the first entry of the party's chain.
        resident = Actor(account_id, Role.RESIDENT, name, party_id=party_id)
        entry, head = new_consent_chain(runtime.keyring, party_id, resident, consents[-1])
        chains.append(entry)
        parties[-1].update(head)
    with runtime.transaction() as session:
        for model, rows in (
            (Party, parties),
            (Account, accounts),
            (Consent, consents),
            (ConsentEntry, chains),
        ):
            for start in range(0, n, 10_000):
                session.execute(insert(cast(Table, model.__table__)), rows[start : start + 10_000])
        authority = register_authority(
            session, slug="bench-steueramt", name="Steueramt Bench", level=AuthorityLevel.CANTON
        )
        client = create_api_client(session, authority, "Massenversand")
        _key, token = create_api_key(session, client)
    return {"numbers": [p["ahvn13"] for p in parties], "api_key": token}


def base_pdf(size: int = 30 * 1024) -> bytes:
    """A one-page letter of about `size` bytes: text, and a scanned-looking image that fills
    the rest. The text stream stays uncompressed so PLACEHOLDER can be varied per letter."""
    rng = random.Random(3)
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, pageCompression=0, invariant=1)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(72, 800, f"Steueramt Bench - Brief Nr. {PLACEHOLDER.decode()}")
    for line in range(40):
        words = " ".join("".join(rng.choices("abcdefghijklmnop", k=6)) for _ in range(11))
        pdf.drawString(72, 770 - 14 * line, words)
    from PIL import Image

    side = int(((size - 10_600) / 3) ** 0.5)  # noise does not compress: ~3 bytes a pixel
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    pdf.drawImage(ImageReader(image), 72, 100, width=120, height=120)
    pdf.showPage()
    pdf.save()
    data = buf.getvalue()
    assert data.count(PLACEHOLDER) == 1
    return data


def letter_pdf(base: bytes, i: int) -> bytes:
    """The i-th letter: the base PDF with its number changed (same length, so offsets hold)."""
    return base.replace(PLACEHOLDER, f"LETTER-{i:010d}".encode())


def batch_bodies(numbers: list[str], base: bytes, batch: int) -> list[bytes]:
    """The request bodies of the whole mailing, built before the clock starts."""
    bodies = []
    for start in range(0, len(numbers), batch):
        items = []
        for i in range(start, min(start + batch, len(numbers))):
            content = base64.b64encode(letter_pdf(base, i)).decode()
            items.append(
                {
                    "ref": f"brief-{i}",
                    "idempotency_key": f"bench-2026-{i}",
                    "metadata": {
                        "recipient": {"ahvn13": numbers[i]},
                        "kind": "letter",
                        "subject": f"Steuererklärung 2026, Brief {i}",
                    },
                    "files": [{"filename": f"brief-{i}.pdf", "content_base64": content}],
                }
            )
        bodies.append(json.dumps({"items": items}).encode())
    return bodies


def portal_env(work: Path, database_url: str) -> dict[str, str]:
    """The portal's settings for a bench run in `work` (and Redis, with a queue of the run's
    own, if one is running)."""
    env = {
        "PORTAL_INSTANCE": str(work / "instance"),
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_STORAGE_URL": f"file://{work / 'objects'}",
        "PORTAL_KEYS_DIR": str(work / "instance" / "keys"),
        "PORTAL_KEK": base64.b64encode(os.urandom(32)).decode(),
        # PostgreSQL: private key files must be encrypted (app/keys.py).
        "PORTAL_KEY_PASSPHRASE": uuid.uuid4().hex,
        "PORTAL_SECRET_KEY": uuid.uuid4().hex,
        "PORTAL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
    }
    redis_url = os.environ.get("PORTAL_BENCH_REDIS", "redis://127.0.0.1:6379/0")
    if listening(redis_url.split("//")[1].split("/")[0]):
        env["PORTAL_REDIS_URL"] = redis_url
    return env


def listening(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except OSError:
        return False
    return True
