"""The tables outside the record's projection (mailbox/projection.py): the records themselves
(each checked as a chain by `portal verify`), and what no record holds (the register, who may
act, operational bookkeeping), each with the reason no court relies on it."""

from __future__ import annotations

from casefiles.projection import Outside, Table, outside

MASTER_DATA = (
    "the register (master data): it changes lawfully (a new name, a new address); what an act "
    "relied on is written in that act's entry (the recipient's and the holder's name and id, "
    "the sender authority's)"
)
_THE_RECORD = (
    "the record itself: hash-chained and signed, checked entry by entry (hash, link, signature, "
    "head) by `portal verify`"
)
_CREDENTIALS = (
    "credentials and settings of who may act; each entry names its actor (kind, id, label)"
)
_OPERATIONAL = "operational bookkeeping (queues, counters, caches); no legal meaning"

RECORDS_AND_OUTSIDE: dict[str, Table] = {
    # ---- the records themselves ----
    "journal_entries": Table(
        {
            **outside(
                _THE_RECORD,
                "id",
                "case_id",
                "seq",
                "recorded_at",
                "actor_kind",
                "actor_id",
                "actor_label",
                "action",
                "payload",
                "prev_hash",
                "entry_hash",
                "signature",
                "key_id",
            ),
            "note": Outside("not hashed, unused; never relied on (docs/journal-format.md §1)"),
        }
    ),
    "consent_entries": Table(
        outside(
            _THE_RECORD,
            "id",
            "party_id",
            "seq",
            "recorded_at",
            "actor_kind",
            "actor_id",
            "actor_label",
            "action",
            "payload",
            "prev_hash",
            "entry_hash",
            "signature",
            "key_id",
        )
    ),
    "destruction_records": Table(
        outside(
            "the destruction register: a record of its own, hash-chained and signed, checked "
            "entry by entry by `portal verify` (casefiles/destruction.py)",
            "id",
            "register",
            "seq",
            "recorded_at",
            "actor_kind",
            "actor_id",
            "actor_label",
            "action",
            "payload",
            "prev_hash",
            "entry_hash",
            "signature",
            "key_id",
            "case_id",
        )
    ),
    # The archivists' working list. Not derived: an appraisal is only a proposal until it is
    # acted on, and every act it leads to is journalled and checked where it counts: the
    # proposal and the decision are signed entries of the case file (appraisal.proposed /
    # .approved / .rejected, holding the appraisal's id, disposition, reason and who), the
    # transfer is case.transferred, the destruction has its own signed register naming who
    # proposed and who approved. A changed row can make the list wrong, never a record.
    "appraisals": Table(
        outside(
            "the archivists' working list: each proposal and decision is also a signed entry of "
            "the case file's journal (appraisal.*), and what it leads to (case.transferred, the "
            "destruction register) is a record of its own",
            "id",
            "case_id",
            "disposition",
            "reason",
            "status",
            "proposed_by",
            "proposed_by_label",
            "proposed_at",
            "decided_by",
            "decided_by_label",
            "decided_at",
            "decision_note",
        )
    ),
    "group_keys": Table(
        outside(
            "key material: the case files' keys wrapped by the KEK; a wrong value leaves the "
            "objects unreadable, which verify reports",
            "group_id",
            "wrapped_key",
            "kek_id",
            "created_at",
        )
    ),
    "exports": Table(
        outside(
            _OPERATIONAL + "; an export is checked on its own by `portal verify PATH`",
            "id",
            "case_id",
            "format",
            "status",
            "done_items",
            "total_items",
            "blob_id",
            "filename",
            "error",
            "requested_by",
            "requested_by_label",
            "created_at",
            "finished_at",
        )
    ),
    "anchors": Table(
        outside(
            "the anchors of all heads: chained and time-stamped, checked by "
            "casefiles/anchor_check.py",
            "seq",
            "created_at",
            "tree_size",
            "root_hash",
            "prev_root_hash",
            "changed_leaves",
            "tsa_token",
            "tsa_source",
        )
    ),
    # ---- outside every record ----
    "authorities": Table(
        {
            **outside(MASTER_DATA, "id", "slug", "name", "level", "email", "created_at"),
            "deemed_delivery_days": Outside(
                "the rule for new deliveries; each delivery keeps its own (deemed_after_days)"
            ),
            **outside(
                "where the authority's seal key is; a sealed PDF carries its certificate and "
                "its bytes are covered by their digest",
                "seal_ref",
                "seal_certificate",
            ),
            **outside(
                MASTER_DATA + "; a QR-bill printed on a fee decision is covered with its PDF",
                "qr_iban",
                "street",
                "postcode",
                "town",
            ),
        }
    ),
    "communes": Table(outside(MASTER_DATA, "bfs", "name", "canton")),
    "responsibilities": Table(
        outside(
            "the routing table (master data, imported by `portal communes import`): it changes "
            "when a commune reorganises; the authority a case file went to is in its entries",
            "id",
            "bfs",
            "task",
            "authority_id",
        )
    ),
    "accounts": Table(
        {
            **outside(
                _CREDENTIALS,
                "id",
                "login",
                "password_hash",
                "role",
                "display_name",
                "party_id",
                "authority_id",
                "created_at",
                "last_login_at",
            ),
            "is_active": Outside(
                "whether the account may log in; with consent it decides whether a resident is "
                "reachable, checked when delivering but not recorded (verify cannot tell a "
                "changed flag)"
            ),
        }
    ),
    "api_clients": Table(
        outside(
            _CREDENTIALS,
            "id",
            "authority_id",
            "name",
            "webhook_url",
            "webhook_secret",
            "created_at",
        )
    ),
    "api_keys": Table(
        outside(
            _CREDENTIALS,
            "id",
            "client_id",
            "prefix",
            "key_hash",
            "created_at",
            "last_used_at",
            "revoked_at",
        )
    ),
    "idempotency_records": Table(
        outside(
            "the answer given to an API request, to give it again; the acts are journalled",
            "id",
            "client_id",
            "key",
            "request_hash",
            "status_code",
            "response",
            "created_at",
        )
    ),
    "webhook_events": Table(
        outside(
            "an outbox of notifications to specialist applications about journalled acts",
            "id",
            "client_id",
            "type",
            "payload",
            "created_at",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "last_error",
        )
    ),
    "job_outbox": Table(
        outside(
            _OPERATIONAL,
            "id",
            "func",
            "args",
            "created_at",
            "dispatched_at",
            "attempts",
            "next_attempt_at",
            "done_at",
        )
    ),
    "login_failures": Table(
        outside(
            _OPERATIONAL,
            "login_hash",
            "failures",
            "last_failure_at",
            "delayed_until",
            "account_id",
            "warn_due_at",
            "warned_at",
        )
    ),
    "login_pair_failures": Table(
        outside(_OPERATIONAL, "pair_hash", "failures", "last_failure_at", "blocked_until")
    ),
    "login_sessions": Table(
        outside(_OPERATIONAL, "token_hash", "account_id", "created_at", "last_seen_at")
    ),
}
