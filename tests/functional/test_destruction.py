"""Destruction that really destroys (issue 10): after a closed case file is destroyed nothing of
it can be read through the web, the API, the CLI or the object store, a restored copy of its old
rows and objects cannot be decrypted, no row mentions it, and the destruction register verifies
(and fails, naming the entry, when tampered with)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from app import runtime as app_runtime
from app.cli import cli
from casefiles.archive_models import DestructionRecord
from casefiles.destruction import NotDestroyable, destroy, destroyed, verify_register
from casefiles.lifecycle import close_case
from casefiles.models import CaseFile, CaseStatus, Document, DocumentVersion
from directory.actors import Actor
from directory.api_clients import set_webhook_secret
from directory.models import Account, ApiClient
from mailbox.models import Delivery, IdempotencyRecord, WebhookEvent
from storage.blobs import Blob, blob_bytes
from storage.db import Base
from storage.encryption import TamperedObject
from storage.group_keys import GroupKey
from tests.api.support import Api, letter
from tests.conftest import csrf_token, login, make_pdf, wait_for, wait_for_idle_worker
from tests.support.services import portal_executable


def run_portal(runtime, *args, cwd):
    """The installed `portal` executable, as an operator runs it."""
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env()}
    return subprocess.run(
        [portal_executable(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@dataclass
class _Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(runtime, *args, cwd=None):
    """The same commands in this process: starting the executable takes seconds each time."""
    before = app_runtime._current
    try:
        result = CliRunner(env=runtime.config.as_env()).invoke(
            cli, list(args), catch_exceptions=False
        )
    finally:
        made = app_runtime._current
        if made is not None and made is not before and made is not runtime:
            made.close()  # the command's own runtime: its connections go with it
        app_runtime._current = before
    return _Ran(result.exit_code, result.stdout, result.stderr)


def _archivist(session, demo) -> Actor:
    account = session.scalars(select(Account).where(Account.login == demo["archivist"]["login"]))
    return Actor.for_account(account.one())


@pytest.fixture
def delivered(app, demo, runtime) -> dict[str, Any]:
    """A decision delivered by the API (with an Idempotency-Key, to a client with a webhook),
    opened by the resident on the web (so a receipt is filed), then closed."""
    with runtime.transaction() as session:
        client = session.scalars(select(ApiClient)).one()
        client.webhook_url = "https://127.0.0.1:9/portal"  # events are queued for it
        set_webhook_secret(session, client)
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    document = make_pdf("Verfügung, die vernichtet wird")
    sent = api.deliver(
        letter(demo), files=[("verfuegung.pdf", document)], headers={"Idempotency-Key": "k-1"}
    )
    assert sent.status_code == 201, sent.get_data(as_text=True)
    case_id = uuid.UUID(sent.get_json()["case_id"])
    resident = app.test_client()
    login(resident, demo["resident"])
    inbox = resident.get("/").get_data(as_text=True)
    message_url = re.search(r'href="(/messages/[0-9a-f-]+)"', inbox).group(1)
    message = resident.get(message_url).get_data(as_text=True)
    assert (
        resident.post(message_url + "/open", data={"csrf_token": csrf_token(message)}).status_code
        == 302
    )
    message = resident.get(message_url).get_data(as_text=True)
    download_url = re.search(r'href="(/documents/[0-9a-f-]+)"', message).group(1)
    assert resident.get(download_url).data == document

    def receipt():
        with runtime.sessions() as session:
            return session.scalars(select(Delivery.receipt_document_id)).one()

    wait_for(receipt)
    wait_for_idle_worker(runtime)
    with runtime.transaction() as session:
        case = session.get_one(CaseFile, case_id)
        close_case(session, Actor.system(), case, years=0, disposition="destroy", automatic=False)
    return {
        "api": api,
        "resident": resident,
        "case_id": case_id,
        "case_url": f"/cases/{case_id}",
        "download_url": download_url,
        "document": document,
    }


def _snapshot(runtime, case_id) -> dict[str, Any]:
    """What an attacker with a backup would hold: the case file's blob rows, its key row and
    its encrypted objects; and the ids of its rows."""
    with runtime.sessions() as session:
        versions = session.scalars(
            select(DocumentVersion).join(Document).where(Document.case_id == case_id)
        ).all()
        blobs = [session.get_one(Blob, v.blob_id) for v in versions]
        store = runtime.objects.store
        with_bytes = []
        for blob in blobs:
            with store.open(blob.key) as stream:
                with_bytes.append((blob.key, blob.wrapped_key, blob.group_id, stream.read()))
            assert blob.group_id == case_id  # under the case file's key
            assert blob_bytes(session, blob)  # readable before
        key_row = session.get_one(GroupKey, case_id)
        case = session.get_one(CaseFile, case_id)
        return {
            "blobs": with_bytes,
            "group_key": key_row.wrapped_key,
            "reference": case.reference,
            "documents": [v.document_id for v in versions],
            "versions": [v.id for v in versions],
            "deliveries": list(session.scalars(select(Delivery.id))),
            "idempotency": session.query(IdempotencyRecord).count(),
            "webhooks": session.query(WebhookEvent).count(),
        }


def _destroy(runtime, demo, case_id) -> None:
    with runtime.transaction() as session:
        actor = _archivist(session, demo)
        case = session.get_one(CaseFile, case_id)
        destroy(
            session,
            actor,
            case,
            proposed_by="Archivarin A",
            approved_by="Archivar B",
            reason="Aufbewahrungsfrist abgelaufen, nicht archivwürdig",
        )


def test_destruction_leaves_nothing_readable_and_the_register_verifies(
    app, client, demo, runtime, delivered, tmp_path
):
    case_id = delivered["case_id"]
    anchored = run_cli(runtime, "anchor", cwd=tmp_path)
    assert anchored.returncode == 0, anchored.stdout + anchored.stderr
    before = _snapshot(runtime, case_id)
    assert before["idempotency"] and before["webhooks"]  # both mention the case file

    _destroy(runtime, demo, case_id)

    # The web: neither the holder nor the clerk finds the dossier or the document.
    resident = delivered["resident"]
    assert resident.get(delivered["case_url"]).status_code == 404
    assert resident.get(delivered["download_url"]).status_code == 404
    login(client, demo["clerk"])
    assert client.get(delivered["case_url"]).status_code == 404
    # The API, with a real key.
    api: Api = delivered["api"]
    assert api.get(f"/cases/{case_id}").status_code == 404
    assert api.get(f"/cases/{case_id}/messages").status_code == 404
    for document_id in before["documents"]:
        assert api.get(f"/documents/{document_id}").status_code == 404
    for delivery_id in before["deliveries"]:
        assert api.get(f"/deliveries/{delivery_id}").status_code == 404
    # The CLI.
    dump = run_cli(runtime, "journal", "dump", str(case_id), cwd=tmp_path)
    assert dump.returncode == 2 and f"no case file {case_id}" in dump.stderr
    one = run_portal(runtime, "verify", str(case_id), cwd=tmp_path)
    assert one.returncode == 2, one.stdout + one.stderr
    assert "1 case file id(s) not found" in one.stderr
    assert f"({before['reference']}) was destroyed" in one.stderr
    assert "destruction register: 1 record(s), ok" in one.stdout
    # The object store.
    store = runtime.objects.store
    for key, *_ in before["blobs"]:
        assert not store.exists(key)

    # A restored copy of the old rows and objects cannot be decrypted: the case file's key that
    # wrapped their data keys is gone, and the KEK never wrapped them.
    with runtime.sessions() as session:
        assert session.get(GroupKey, case_id) is None
        for key, wrapped, _group, data in before["blobs"]:
            store.put(key, io.BytesIO(data))
            with pytest.raises(TamperedObject):
                runtime.objects.open(key, wrapped)
            with pytest.raises(ValueError):
                runtime.objects.kek.unwrap(wrapped)
            store.delete(key)

    # No row of any table mentions the case file (the register alone records it).
    _assert_nothing_mentions(runtime, case_id, before)

    with runtime.sessions() as session:
        record = destroyed(session, case_id)
        assert record is not None and record.seq == 1
        assert record.payload["reference"] == before["reference"]
        assert record.payload["proposed_by"] == "Archivarin A"
        assert record.payload["approved_by"] == "Archivar B"
        assert record.payload["parties"] == 1
        assert {d["version_id"] for d in record.payload["documents"]} == {
            str(v) for v in before["versions"]
        }
        assert record.payload["journal_head"]["seq"] > 0
        assert verify_register(session) == []

    # The anchored, then destroyed, case file passes the anchor check; a new anchor is made
    # over it (with the register's head), and everything verifies.
    again = run_cli(runtime, "anchor", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    everything = run_cli(runtime, "verify", cwd=tmp_path)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "destruction register: 1 record(s), ok" in everything.stdout
    assert "anchors: 2 checked" in everything.stdout and ": ok" in everything.stdout

    # Tampering with the register entry fails `portal verify`, naming the entry.
    with runtime.transaction() as session:
        session.execute(
            update(DestructionRecord).values(
                payload={**record.payload, "reason": "auf Wunsch der Behörde"}
            )
        )
    tampered = run_cli(runtime, "verify", cwd=tmp_path)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "destruction register: 1 record(s), FAILED" in tampered.stdout
    assert (
        f"destruction register entry 1 ({before['reference']}): content does not match its hash"
        in tampered.stdout
    )


def _assert_nothing_mentions(runtime, case_id: uuid.UUID, before: dict[str, Any]) -> None:
    needles = [str(case_id), case_id.hex, before["reference"]]
    needles += [str(i) for i in before["documents"] + before["versions"] + before["deliveries"]]
    with runtime.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name == "destruction_records":
                continue
            for row in conn.execute(select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    if isinstance(value, bytes):
                        # Anchors keep the 16 id bytes in their (time-stamped) leaves: an id,
                        # no content; the register says what became of it.
                        assert table.name == "anchors" or case_id.bytes not in value
                        continue
                    text = json.dumps(value, default=str) if value is not None else ""
                    for needle in needles:
                        assert needle not in text, f"{table.name}.{column.name} mentions {needle}"


def test_an_open_case_file_is_not_destroyed(app, demo, runtime):
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    sent = api.deliver(letter(demo))
    assert sent.status_code == 201
    case_id = uuid.UUID(sent.get_json()["case_id"])
    with pytest.raises(NotDestroyable), runtime.transaction() as session:
        _destroy_in(session, demo, case_id)
    with runtime.sessions() as session:
        assert session.get_one(CaseFile, case_id).status == CaseStatus.OPEN
        assert session.get(GroupKey, case_id) is not None
        assert destroyed(session, case_id) is None
    assert api.get(f"/cases/{case_id}").status_code == 200


def _destroy_in(session, demo, case_id) -> None:
    case = session.get_one(CaseFile, case_id)
    destroy(session, _archivist(session, demo), case, proposed_by="a", approved_by="b", reason="r")


def test_a_rolled_back_destruction_deletes_nothing(app, demo, runtime, delivered):
    case_id = delivered["case_id"]
    before = _snapshot(runtime, case_id)
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        _destroy_in(session, demo, case_id)
        raise RuntimeError("the request failed after the destruction")
    for key, *_ in before["blobs"]:
        assert runtime.objects.store.exists(key)
    assert delivered["resident"].get(delivered["download_url"]).data == delivered["document"]
    with runtime.sessions() as session:
        assert destroyed(session, case_id) is None and verify_register(session) == []


def test_destructions_chain_in_the_register(app, demo, runtime, tmp_path):
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    ids = []
    for n in range(2):
        sent = api.deliver(letter(demo, subject=f"Brief {n}"))
        ids.append(uuid.UUID(sent.get_json()["case_id"]))
    wait_for_idle_worker(runtime)
    with runtime.transaction() as session:
        for case_id in ids:
            case = session.get_one(CaseFile, case_id)
            close_case(
                session, Actor.system(), case, years=0, disposition="destroy", automatic=False
            )
    for case_id in ids:
        _destroy(runtime, demo, case_id)
    with runtime.sessions() as session:
        records = session.scalars(select(DestructionRecord).order_by(DestructionRecord.seq)).all()
        assert [r.seq for r in records] == [1, 2]
        assert records[1].prev_hash == records[0].entry_hash
        assert verify_register(session) == []
    with runtime.transaction() as session:  # an entry removed from the middle: a gap
        session.delete(session.get_one(DestructionRecord, records[0].id))
    result = run_cli(runtime, "verify", cwd=tmp_path)
    assert result.returncode == 1
    assert "destruction register entry 2" in result.stdout and "sequence gap" in result.stdout


def test_objects_stored_before_case_keys_are_rewrapped_by_the_cli(app, demo, runtime, tmp_path):
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    document = make_pdf("Alte Verfügung")
    sent = api.deliver(letter(demo), files=[("alt.pdf", document)])
    case_id = uuid.UUID(sent.get_json()["case_id"])
    wait_for_idle_worker(runtime)
    # As before migration 0013: every data key wrapped by the KEK (`portal storage unwrap`).
    unwrapped = run_cli(runtime, "storage", "unwrap", cwd=tmp_path)
    assert unwrapped.returncode == 0, unwrapped.stderr
    assert re.search(r"unwrapped [1-9]\d* object\(s\)", unwrapped.stdout)
    store = runtime.objects.store
    with runtime.sessions() as session:
        old = session.scalars(select(Blob)).all()
        assert old and all(b.group_id is None for b in old)
        stored = {}
        for b in old:
            with store.open(b.key) as stream:
                stored[b.id] = (b.wrapped_key, stream.read())
        assert any(blob_bytes(session, b) == document for b in old)  # still reads

    upgraded = run_portal(runtime, "db", "upgrade", cwd=tmp_path)  # runs the rewrap
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"rewrapped {len(old)} object(s) under case file keys" in upgraded.stdout
    again = run_cli(runtime, "storage", "rewrap", cwd=tmp_path)
    assert "rewrapped 0 object(s)" in again.stdout  # idempotent
    with runtime.sessions() as session:
        for blob in session.scalars(select(Blob)):
            assert blob.group_id == case_id
            wrapped, data = stored[blob.id]
            assert blob.wrapped_key != wrapped  # rewrapped …
            with store.open(blob.key) as stream:
                assert stream.read() == data  # … but the object is not rewritten
        assert any(blob_bytes(session, b) == document for b in session.scalars(select(Blob)))
    verified = run_cli(runtime, "verify", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
