"""Migration 0005 gives every existing case file its holder: the recipient it was opened for."""

from __future__ import annotations

import uuid

from sqlalchemy import inspect, select

from app.migrate import downgrade, upgrade
from casefiles.case_keys import unwrap_all
from casefiles.models import CaseFile
from mailbox.models import Delivery
from tests.api.support import letter

BEFORE_HOLDERS = "7a4e2c90d1f3"  # 0004


def test_existing_case_files_get_the_recipient_they_were_opened_for(api, demo, runtime):
    created = [
        api.deliver(letter(demo, who=who)).get_json() for who in ("resident", "other_resident")
    ]
    engine = runtime.engine
    # Below 0013 the KEK wraps every data key again (the downgrade refuses otherwise).
    assert unwrap_all(runtime.transaction) >= 2
    downgrade(engine, BEFORE_HOLDERS)
    assert "party_id" not in {c["name"] for c in inspect(engine).get_columns("case_files")}
    upgrade(engine)
    with runtime.sessions() as session:
        for body in created:
            case = session.get_one(CaseFile, uuid.UUID(body["case_id"]))
            delivery = session.get_one(Delivery, uuid.UUID(body["delivery_id"]))
            assert case.party_id == delivery.recipient_party_id
        assert len(session.scalars(select(CaseFile)).all()) == 2
