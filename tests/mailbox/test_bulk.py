"""Mass delivery (`mailbox.bulk.deliver_many`) writes what `deliver` writes, letter for letter:
the same rows, the same journal (verifiable), the same events, and notices for the mailing."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from casefiles.documents import CheckedFile
from casefiles.journal import entries
from casefiles.models import CaseFile, CaseParty, Document, DocumentVersion, JournalEntry
from casefiles.verify import verify_case
from directory.actors import Actor
from directory.models import ApiClient, Party
from mailbox.bulk import Letter, deliver_many
from mailbox.letters import DeliveryOptions
from mailbox.models import Delivery, Message, MessageDocument, WebhookEvent
from mailbox.operations import deliver
from storage.blobs import Blob
from tests.api.support import Api, b64, counts
from tests.conftest import make_pdf, wait_for
from tests.mailbox.conftest import register_webhook


@pytest.fixture
def api(app, demo) -> Api:
    return Api(app.test_client(), demo["api_client"]["api_key"])


def api_actor(session, demo) -> Actor:
    client = session.get_one(ApiClient, uuid.UUID(demo["api_client"]["login"]))
    return Actor.for_api_client(client)


def party(session, account: dict[str, Any]) -> Party:
    return session.scalars(select(Party).where(Party.ahvn13 == account["ahvn13"])).one()


def checked(data: bytes, name: str = "verfuegung.pdf") -> CheckedFile:
    return CheckedFile(
        filename=name, media_type="application/pdf", size=len(data), spool=io.BytesIO(data)
    )


def rows_of_case(session, case_id: uuid.UUID) -> dict[str, int]:
    documents = select(Document.id).where(Document.case_id == case_id)
    messages = select(Message.id).where(Message.case_id == case_id)
    wheres = {
        CaseFile: CaseFile.id == case_id,
        CaseParty: CaseParty.case_id == case_id,
        Document: Document.case_id == case_id,
        DocumentVersion: DocumentVersion.document_id.in_(documents),
        Blob: Blob.id.in_(
            select(DocumentVersion.blob_id).where(DocumentVersion.document_id.in_(documents))
        ),
        Message: Message.case_id == case_id,
        MessageDocument: MessageDocument.message_id.in_(messages),
        Delivery: Delivery.message_id.in_(messages),
        JournalEntry: JournalEntry.case_id == case_id,
    }
    return {
        m.__name__: session.scalar(select(func.count()).select_from(m).where(w))
        for m, w in wheres.items()
    }


def test_bulk_writes_what_deliver_writes(runtime, demo, receiver):
    hook = register_webhook(runtime, receiver.url)
    data = make_pdf("Verfügung Gartenhaus")
    options = DeliveryOptions(appeal_period_days=30, reply_allowed=False)
    with runtime.transaction() as session:
        actor = api_actor(session, demo)
        anna = party(session, demo["resident"])
        single = deliver(
            session,
            actor,
            recipient_id=anna.id,
            kind="decision",
            subject=" Verfügung ",
            files=[checked(data)],
            body="Text",
            options=options,
        )
        [result] = deliver_many(
            session,
            actor,
            [Letter(anna.id, "decision", " Verfügung ", [checked(data)], "Text", options)],
        )
        single_id, bulk_id = single.id, result.delivered.delivery_id
        assert result.error is None

    with runtime.sessions() as session:
        one, many = session.get_one(Delivery, single_id), session.get_one(Delivery, bulk_id)
        cases = [d.message.case for d in (one, many)]
        assert rows_of_case(session, cases[0].id) == rows_of_case(session, cases[1].id)
        assert rows_of_case(session, cases[1].id)["JournalEntry"] == 4
        journals = [entries(session, c) for c in cases]
        assert (
            [e.action for e in journals[0]]
            == [e.action for e in journals[1]]
            == [
                "case.opened",
                "document.added",
                "delivery.accepted",
                "delivery.available",
            ]
        )
        for a, b in zip(*journals, strict=True):
            assert a.payload.keys() == b.payload.keys()
            assert (a.seq, a.actor_kind, a.actor_id, a.actor_label, a.key_id) == (
                b.seq,
                b.actor_kind,
                b.actor_id,
                b.actor_label,
                b.key_id,
            )
            for stable in (
                "title",
                "subject",
                "kind",
                "filename",
                "size",
                "sha256",
                "media_type",
                "signatures",
                "appeal_period_days",
                "external_ref",
                "version",
            ):
                assert a.payload.get(stable) == b.payload.get(stable), stable
        assert journals[1][2].payload["recipient"] == journals[0][2].payload["recipient"]
        assert [c.head_seq for c in cases] == [4, 4]
        for case in cases:
            report = verify_case(session, case)
            assert report.ok, report.problems
        for column in (
            "status",
            "deemed_after_days",
            "appeal_period_days",
            "reply_allowed",
            "api_client_id",
            "recipient_party_id",
            "due_date",
        ):
            assert getattr(one, column) == getattr(many, column), column
        assert many.deemed_due_at - many.available_at == one.deemed_due_at - one.available_at
        assert (one.message.subject, one.message.body, one.message.kind) == (
            many.message.subject,
            many.message.body,
            many.message.kind,
        )
        events = session.scalars(
            select(WebhookEvent).where(WebhookEvent.client_id == hook.client_id)
        ).all()
        data_of = {e.payload["data"]["delivery_id"]: e.payload["data"] for e in events}
        assert data_of.keys() == {str(single_id), str(bulk_id)}
        assert data_of[str(bulk_id)]["case_id"] == str(cases[1].id)
        assert data_of[str(single_id)].keys() == data_of[str(bulk_id)].keys()


def test_refused_letters_leave_nothing_behind(runtime, demo):
    before = counts(runtime)
    with runtime.transaction() as session:
        actor = api_actor(session, demo)
        anna, chiara = (
            party(session, demo["resident"]),
            party(session, demo["chiara.rossi@example.ch"]),
        )
        pdf = make_pdf("Brief")
        results = deliver_many(
            session,
            actor,
            [
                Letter(anna.id, "letter", "Gut", [checked(pdf)]),
                Letter(chiara.id, "letter", "Papier", [checked(pdf)]),  # no consent
                Letter(
                    anna.id,
                    "letter",
                    "Frist",
                    [checked(pdf)],
                    options=DeliveryOptions(appeal_period_days=999),
                ),
                Letter(anna.id, "reply", "Art", [checked(pdf)]),
                Letter(uuid.uuid4(), "letter", "Niemand", [checked(pdf)]),
                Letter(
                    anna.id,
                    "letter",
                    "Fremder Fall",
                    [checked(pdf)],
                    options=DeliveryOptions(case_id=uuid.uuid4()),
                ),
                Letter(anna.id, "letter", "Auch gut", [checked(pdf), checked(pdf, "beilage.pdf")]),
            ],
        )
    errors = [getattr(r.error, "field", None) for r in results]
    assert errors == [None, "recipient", "appeal_period_days", "kind", "recipient", "case_id", None]
    assert getattr(results[1].error, "code", None) == "recipient_not_reachable"
    after = counts(runtime)
    assert after["Delivery"] - before["Delivery"] == 2
    assert after["CaseFile"] - before["CaseFile"] == 2
    assert after["Blob"] - before["Blob"] == after["objects"] - before["objects"] == 3
    assert after["JournalEntry"] - before["JournalEntry"] == 4 + 5


def test_letters_of_one_external_reference_go_to_each_recipients_case_file(runtime, demo):
    with runtime.transaction() as session:
        actor = api_actor(session, demo)
        anna, beat = party(session, demo["resident"]), party(session, demo["other_resident"])
        ref = DeliveryOptions(external_ref="BAU-2026-17")
        results = deliver_many(
            session,
            actor,
            [
                Letter(
                    anna.id, "decision", "Baubewilligung", [checked(make_pdf("A"))], options=ref
                ),
                Letter(
                    beat.id, "information", "Zur Kenntnis", [checked(make_pdf("B"))], options=ref
                ),
                Letter(anna.id, "letter", "Nachtrag", [checked(make_pdf("C"))], options=ref),
            ],
        )
        annas, beats, again = (r.delivered.case_id for r in results)
        # One matter, one case file per recipient: Anna's two letters share hers.
        assert annas == again and beats != annas
    with runtime.sessions() as session:
        for case_id, holder in ((annas, anna), (beats, beat)):
            case = session.get_one(CaseFile, case_id)
            assert case.external_ref == "BAU-2026-17"
            assert case.party_id == holder.id
            assert {p.party_id for p in case.parties} == {holder.id}
            assert "party.added" not in [e.action for e in entries(session, case)]
            assert verify_case(session, case).ok


def test_a_batch_sends_every_notice_with_one_job(api, demo, runtime, smtp_messages):
    items = [
        {
            "ref": f"brief-{n}",
            "metadata": {
                "recipient": {"ahvn13": demo[who]["ahvn13"]},
                "kind": "letter",
                "subject": f"Brief {n}",
            },
            "files": [
                {"filename": f"brief-{n}.pdf", "content_base64": b64(make_pdf(f"Brief {n}"))}
            ],
        }
        for n, who in enumerate(["resident", "other_resident", "resident"])
    ]
    response = api.post_json("/deliveries/batch", {"items": items})
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [201, 201, 201]
    # Match by Message-ID: a late notice of an earlier test must not count here.
    wanted = {f"<delivery-{r['delivery_id']}@portal.lu.ch>" for r in results}

    def ours():
        found = [m for m in list(smtp_messages) if m["Message-ID"] in wanted]
        return found if len(found) >= 3 else None

    notices = wait_for(ours, timeout=30)
    assert len(notices) == 3
    recipients = sorted(m["To"].addresses[0].addr_spec for m in notices)
    assert recipients == sorted([demo["resident"]["login"]] * 2 + [demo["other_resident"]["login"]])

    # The job commits notice_sent_at just after each e-mail left: wait for the last commit.
    def all_marked():
        with runtime.sessions() as session:
            sent = session.scalars(select(Delivery.notice_sent_at)).all()
        return len(sent) == 3 and all(sent)

    wait_for(all_marked)
