"""The storage of idempotency keys (mailbox/idempotency.py) without Flask: claimed, answered,
replayed, refused for another request, released; one key at a time and a batch at a time.
(The HTTP side, with concurrent retries, is tests/api/test_idempotency.py.)"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from directory.models import ApiClient, AuthorityLevel
from directory.operations import register_authority
from mailbox import idempotency as keys
from mailbox.models import IdempotencyRecord


@pytest.fixture
def client_id(db_session) -> uuid.UUID:
    slug = f"testamt-{uuid.uuid4().hex[:8]}"
    authority = register_authority(
        db_session, slug=slug, name="Testamt", level=AuthorityLevel.COMMUNE
    )
    client = ApiClient(authority_id=authority.id, name="Fachapplikation")
    db_session.add(client)
    db_session.flush()
    return client.id


def test_a_claimed_key_answers_once_and_refuses_another_request(db_session, client_id):
    assert keys.find(db_session, client_id, "k-1", "digest-a") is None
    claim = keys.claim(db_session, client_id, "k-1", "digest-a")
    assert claim is not None
    # A second claim of the same key loses; until the answer is filed the key is busy.
    assert keys.claim(db_session, client_id, "k-1", "digest-a") is None
    with pytest.raises(keys.InProgress):
        keys.winner(db_session, client_id, "k-1", "digest-a")
    keys.complete(claim, 201, {"delivery_id": "d-1"})
    db_session.flush()
    winner = keys.winner(db_session, client_id, "k-1", "digest-a")
    assert (winner.status_code, winner.response) == (201, {"delivery_id": "d-1"})
    with pytest.raises(keys.KeyReused):
        keys.find(db_session, client_id, "k-1", "digest-b")
    # Keys are per client: another client's same key is another key.
    other = ApiClient(authority_id=db_session.get(ApiClient, client_id).authority_id, name="B")
    db_session.add(other)
    db_session.flush()
    assert keys.find(db_session, other.id, "k-1", "digest-b") is None


def test_a_batch_claims_files_and_releases_in_one_statement_each(db_session, client_id):
    first = keys.claim_keys(db_session, client_id, [("b-1", "h1"), ("b-2", "h2")])
    assert all(first)
    again = keys.claim_keys(db_session, client_id, [("b-2", "h2"), ("b-3", "h3")])
    assert again[0] is None and again[1] is not None
    keys.file_answers(db_session, [(first[0], {"n": 1})])
    keys.release(db_session, [first[1]])
    db_session.expire_all()
    known = keys.known(db_session, client_id, {"b-1", "b-2", "b-3", "b-4"})
    assert set(known) == {"b-1", "b-3"}
    assert (known["b-1"].status_code, known["b-1"].response) == (201, {"n": 1})
    assert known["b-3"].status_code == keys.IN_PROGRESS
    # The released key can be claimed again.
    assert keys.claim_keys(db_session, client_id, [("b-2", "h2")])[0] is not None
    assert (
        db_session.scalar(
            select(IdempotencyRecord.request_hash).where(
                IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == "b-2"
            )
        )
        == "h2"
    )


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("a", True),
        ("x" * 200, True),
        ("", False),
        ("x" * 201, False),
        ("ä", False),
        ("tab\there", False),
        (7, False),
        (None, False),
    ],
)
def test_what_a_key_may_be(key, valid):
    assert keys.valid_key(key) is valid
