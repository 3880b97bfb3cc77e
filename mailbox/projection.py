"""THE mapping: which column of which table comes from which field of a signed entry.

The journal is the record, the rows are its projection (DESIGN.md, "Integrity"). Every column of
every table is declared here, once (the records themselves and the tables outside every record in
mailbox/projection_outside.py, gathered into TABLES below):

- `Key`: the row's identity, as the record names it;
- `Covered`: derived from the record and compared by `portal verify` (mailbox/derive.py derives
  the values, casefiles/projection.py compares; the journal heads, blob digests and the blob a
  version points to are compared by casefiles/verify.py with the chain and the stored bytes);
- `Outside`: not part of any record, with the reason no court relies on it.

tests/functional/test_projection_coverage.py fails for a column that is in none of these, and
changes every covered column in turn, expecting `portal verify` to name it.
"""

from __future__ import annotations

from casefiles.projection import Covered, Key, Outside, Table, outside
from mailbox.projection_outside import MASTER_DATA, RECORDS_AND_OUTSIDE

TABLES: dict[str, Table] = {
    # ---- a case file's rows: the projection of its journal ----
    "case_files": Table(
        {
            "id": Key("the journal's own case_id"),
            "reference": Covered("case.opened reference"),
            "title": Covered("case.opened title"),
            "authority_id": Covered("case.opened authority.id", "uuid"),
            "party_id": Covered(
                "case.opened holder (before 0009: the first of its parties, the rule since 0005)",
                "uuid",
            ),
            "status": Covered(
                "open from case.opened on; closed from case.closed, transferred from "
                "case.transferred (casefiles/lifecycle.py)",
                "enum",
            ),
            "external_ref": Covered("case.opened external_ref"),
            "created_at": Covered("case.opened created_at", "time"),
            "head_seq": Covered(
                "the last entry's seq (casefiles/verify.py, with the chain)", "int"
            ),
            "head_hash": Covered("the last entry's entry_hash (casefiles/verify.py)"),
            "case_type": Covered("case.ordered service; none from case.opened on"),
            "case_type_version": Covered("case.ordered version; none from case.opened on", "int"),
            "closed_at": Covered("case.closed closed_at; none before", "time"),
            "retention_until": Covered("case.closed retention_until; none before", "date"),
            "disposition": Covered("case.closed disposition; none before"),
        },
        scope="id",
    ),
    # Who takes part and the steps of an ordered service: case.ordered (authorities[], steps[])
    # and the step lifecycle's entries (catalogue/steps.py), each holding the step's row.
    "case_authorities": Table(
        {
            "case_id": Key("the journal's case_id"),
            "authority_id": Key(
                "case.ordered authorities[].id; step.opened / step.forwarded step.authority"
            ),
            "role": Covered("case.ordered authorities[].role; step for a later one"),
        },
        scope="case_id",
    ),
    "steps": Table(
        {
            "id": Key("case.ordered steps[].id; step.* step.id"),
            "case_id": Covered("the case file whose journal holds the step", "uuid"),
            "step_id": Covered("case.ordered steps[].step; step.* step.step"),
            "position": Covered("case.ordered steps[].position; step.* step.position", "int"),
            "authority_id": Covered(
                "case.ordered steps[].authority; step.* step.authority (a forward moves it)",
                "uuid",
            ),
            "status": Covered("case.ordered steps[].status; the last step.* step.status", "enum"),
            "claimed_by": Covered("the last step.* step.claimed_by; none at ordering", "uuid"),
            "opened_at": Covered("case.ordered steps[].opened_at; step.* step.opened_at", "time"),
            "due_at": Covered("the last step.* step.due_at; none at ordering", "time"),
            "finished_at": Covered(
                "case.ordered steps[].finished_at; step.* step.finished_at", "time"
            ),
            "outcome": Covered("the last step.* step.outcome; none at ordering"),
            "note": Covered("the last step.* step.note; none at ordering"),
        },
        scope="case_id",
    ),
    "service_versions": Table(
        outside(
            "the catalogue's declarations as ordered (reference data): a case file's "
            "case.ordered entry fixes the declaration by its digest (SHA-256 of its canonical "
            "JSON), so a changed row no longer matches the digest the journal holds",
            "id",
            "service_id",
            "version",
            "digest",
            "declaration",
            "created_at",
        )
    ),
    "fees": Table(
        {
            "id": Key("fee.billed / fee.paid fee.id"),
            "case_id": Covered("the case file whose journal holds the fee", "uuid"),
            "authority_id": Covered("fee.* fee.authority (the billing office)", "uuid"),
            "step_id": Covered("fee.* fee.step", "uuid"),
            "amount_rappen": Covered("fee.* fee.amount (francs as text, × 100)", "int"),
            "currency": Covered("fee.* fee.currency"),
            "due": Covered("fee.* fee.due (before / with_decision)"),
            "reason": Covered("fee.* fee.reason"),
            "account": Covered("fee.* fee.account (the QR-IBAN on the bill)"),
            "reference": Covered("fee.* fee.reference (the QR or creditor reference)"),
            "status": Covered("the last fee.* fee.status", "enum"),
            "billed_at": Covered("fee.* fee.billed_at", "time"),
            "paid_at": Covered("fee.paid fee.paid_at", "time"),
            "paid_by": Covered("fee.paid fee.paid_by (the clerk's account)", "uuid"),
        },
        scope="case_id",
    ),
    "case_parties": Table(
        {
            "case_id": Key("the journal's case_id"),
            "party_id": Key("case.opened parties[].id"),
            "role": Covered("case.opened parties[].role"),
        },
        scope="case_id",
    ),
    "documents": Table(
        {
            "id": Key("document.added document_id"),
            "case_id": Covered("the case file whose journal holds document.added", "uuid"),
            "title": Covered("document.added title"),
            "created_at": Covered("document.added created_at", "time"),
            "created_by": Covered("document.added: the entry's actor label"),
        },
        scope="case_id",
    ),
    "document_versions": Table(
        {
            "id": Key("document.added version_id"),
            "document_id": Covered("document.added document_id", "uuid"),
            "number": Covered("document.added version", "int"),
            "blob_id": Covered(
                "the blob with document.added sha256 and size (casefiles/verify.py)", "uuid"
            ),
            "filename": Covered("document.added filename"),
            "media_type": Covered("document.added media_type"),
            "created_at": Covered("document.added created_at", "time"),
            "signatures": Covered("document.added signatures (the check on intake)", "json"),
        },
        scope="document_id",
    ),
    "blobs": Table(
        {
            "id": Key("the blob a document version names"),
            "sha256": Covered("document.added sha256 (casefiles/verify.py, with the bytes)"),
            "size": Covered("document.added size (casefiles/verify.py, with the bytes)", "int"),
            **outside(
                "where the encrypted object is and the wrapped key that opens it: a wrong value "
                "leaves the object unreadable, which verify reports as missing or altered",
                "backend",
                "key",
                "wrapped_key",
                "kek_id",
                "group_id",
            ),
            "created_at": Outside("when the bytes were stored; the document's time is covered"),
        }
    ),
    "messages": Table(
        {
            "id": Key("delivery.accepted / reply.received / case.ordered message_id"),
            "case_id": Covered("the case file whose journal holds the message", "uuid"),
            "direction": Covered(
                "outbound: delivery.accepted; inbound: reply.received, case.ordered", "enum"
            ),
            "sender_authority_id": Covered(
                "delivery.accepted sender.id; reply.received, case.ordered authority.id", "uuid"
            ),
            "sender_party_id": Covered(
                "reply.received, case.ordered sender_party.id; none outbound", "uuid"
            ),
            "in_reply_to_id": Covered("reply.received in_reply_to; none outbound", "uuid"),
            "kind": Covered(
                "delivery.accepted kind; reply for reply.received; order for case.ordered", "enum"
            ),
            "subject": Covered("delivery.accepted subject; reply.received subject"),
            "body": Covered(
                "delivery.accepted body_sha256; reply.received, case.ordered text", "digest"
            ),
            "created_at": Covered("delivery.accepted / reply.received created_at", "time"),
            "created_by": Covered("delivery.accepted / reply.received: the entry's actor label"),
            "handled_at": Covered("reply.handled handled_at; none before", "time"),
            "handled_by": Covered("reply.handled: the entry's actor label; none before"),
        },
        scope="case_id",
    ),
    "message_documents": Table(
        {
            "message_id": Key("delivery.accepted / reply.received / case.ordered message_id"),
            "document_id": Key("delivery.accepted / reply.received / case.ordered documents[]"),
            "position": Covered("the index in documents[]", "int"),
        },
        scope="message_id",
    ),
    "deliveries": Table(
        {
            "id": Key("delivery.accepted delivery_id"),
            "message_id": Covered("delivery.accepted message_id", "uuid"),
            "recipient_party_id": Covered("delivery.accepted recipient.id", "uuid"),
            "status": Covered(
                "the last of delivery.accepted, .available, .opened, .deemed_delivered, .withdrawn",
                "enum",
            ),
            "accepted_at": Covered("delivery.accepted accepted_at", "time"),
            "available_at": Covered("delivery.available available_at", "time"),
            "opened_at": Covered("delivery.opened opened_at", "time"),
            "opened_by": Covered("delivery.opened opened_by"),
            "deemed_at": Covered("delivery.deemed_delivered deemed_delivered_at", "time"),
            "deemed_due_at": Covered("delivery.available deemed_delivered_at", "time"),
            "withdrawn_at": Covered("delivery.withdrawn withdrawn_at", "time"),
            "withdrawn_by": Covered("delivery.withdrawn: the entry's actor label"),
            "deemed_after_days": Covered("delivery.accepted deemed_after_days", "int"),
            "appeal_period_days": Covered("delivery.accepted appeal_period_days", "int"),
            "due_date": Covered("delivery.opened / .deemed_delivered due_date", "date"),
            "reply_allowed": Covered("delivery.accepted reply_allowed", "bool"),
            "api_client_id": Covered(
                "delivery.accepted: the entry's actor id when an API client acted", "uuid"
            ),
            "notice_sent_at": Outside(
                "when the courtesy e-mail went out: no period runs from it (they run from "
                "available_at); it keeps the notice job from sending twice"
            ),
            "receipt_document_id": Covered("receipt.issued pdf_document_id", "uuid"),
        },
        scope="message_id",
    ),
    # ---- a party's consent: the projection of its consent chain ----
    "delivery_consents": Table(
        {
            "id": Key("consent.given consent_id"),
            "party_id": Covered("the party whose consent chain holds it", "uuid"),
            "given_at": Covered("consent.given given_at", "time"),
            "given_by": Covered("consent.given: the entry's actor label"),
            "revoked_at": Covered("consent.revoked revoked_at", "time"),
            "revoked_by": Covered("consent.revoked: the entry's actor label"),
        },
        scope="party_id",
    ),
    "parties": Table(
        {
            **outside(
                MASTER_DATA,
                "id",
                "kind",
                "display_name",
                "given_name",
                "family_name",
                "date_of_birth",
                "ahvn13",
                "uid",
                "email",
                "created_at",
                "street",
                "postcode",
                "town",
                "bfs",
            ),
            "consent_head_seq": Covered("the consent chain's last seq (with the chain)", "int"),
            "consent_head_hash": Covered("the consent chain's last entry_hash (with the chain)"),
        }
    ),
    **RECORDS_AND_OUTSIDE,
}

# The tables of one case file, in the order they are compared; and of one consent chain.
CASE_TABLES = (
    "case_files",
    "case_parties",
    "documents",
    "document_versions",
    "messages",
    "message_documents",
    "deliveries",
    "case_authorities",
    "steps",
    "fees",
)
CONSENT_TABLES = ("delivery_consents",)
