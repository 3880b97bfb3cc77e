"""Closing case files (issue 10): by their lead authority, or by the periodic sweep once their
process is done and their periods have run out; and how long each is kept.

Here rather than in casefiles because the rules need what sits above it: the case type's
declared retention (catalogue), its steps and fees, and the deliveries' legal states (mailbox).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Exists, and_, exists, not_, or_, select
from sqlalchemy.orm import Session

from casefiles.errors import NotFound
from casefiles.lifecycle import (
    DELIVERY_PENDING,
    RECEIPT_PENDING,
    STEPS_OPEN,
    NotClosable,
    close_case,
    ensure_open,
)
from casefiles.models import CaseFile, CaseStatus, JournalEntry
from casefiles.operations import get_case
from catalogue.models import FINISHED, Fee, FeeStatus, Step
from catalogue.steps import PROCESS_DONE, service_of
from directory.actors import Actor
from mailbox.deadlines import local_day
from mailbox.models import Delivery, DeliveryStatus, Direction, Message, MessageKind
from storage.db import utcnow
from storage.work import services_of

DEFAULT_YEARS = 10
DEFAULT_DISPOSITION = "archive"
_PENDING = (DeliveryStatus.ACCEPTED, DeliveryStatus.AVAILABLE)
_DELIVERED = (DeliveryStatus.OPENED, DeliveryStatus.DEEMED_DELIVERED)


def _setting(session: Session, name: str, default: object) -> object:
    # The settings the session's runtime carries (app.config.Config); a session made without
    # the runtime (a unit test) gets the documented defaults.
    try:
        settings = services_of(session).settings
    except (LookupError, AttributeError, TypeError):
        return default
    return getattr(settings, name, default)


def retention_of(session: Session, case: CaseFile) -> tuple[int, str]:
    """How many years the case file is kept after closing, and what its type suggests then."""
    if case.case_type is not None:
        try:
            retention = service_of(session, case).retention
        except NotFound:
            pass  # its declaration is gone (a broken install): the configured default
        else:
            return retention.years, retention.disposition
    default = _setting(session, "retention_default_years", DEFAULT_YEARS)
    by_kind = _setting(session, "retention_years_by_kind", {})
    years = default if isinstance(default, int) else DEFAULT_YEARS
    kinds = session.scalars(
        select(Message.kind).where(
            Message.case_id == case.id, Message.direction == Direction.OUTBOUND
        )
    )
    if isinstance(by_kind, Mapping):
        # A case file holding a decision and a letter is kept as long as the longer of them.
        configured = [by_kind[k.value] for k in set(kinds) if k.value in by_kind]
        if configured:
            years = max(configured)
    return years, DEFAULT_DISPOSITION


def _deliveries(case_id: Any, *conditions: ColumnElement[bool]) -> Exists:
    return exists(
        select(Delivery.id)
        .join(Message, Message.id == Delivery.message_id)
        .where(Message.case_id == case_id, *conditions)
    )


def _still_running(session: Session, case: CaseFile) -> str | None:
    """Why the case file cannot be closed yet (a sentence for the clerk), or None."""
    steps = select(Step.id).where(Step.case_id == case.id, Step.status.not_in(FINISHED))
    if session.scalar(steps.limit(1)) is not None:
        return STEPS_OPEN
    if session.scalar(select(_deliveries(case.id, Delivery.status.in_(_PENDING)))):
        return DELIVERY_PENDING
    receipt_pending = and_(Delivery.status.in_(_DELIVERED), Delivery.receipt_document_id.is_(None))
    if session.scalar(select(_deliveries(case.id, receipt_pending))):
        return RECEIPT_PENDING
    return None


def close(session: Session, actor: Actor, case_id: uuid.UUID) -> CaseFile:
    """The lead authority closes one of its case files (a clerk or its API client)."""
    actor.require_authority()
    case = get_case(session, actor, case_id)
    if case.authority_id != actor.authority_id:
        # A step authority sees the case file but does not decide when it ends.
        raise NotFound("case file")
    ensure_open(case)
    reason = _still_running(session, case)
    if reason is not None:
        raise NotClosable("case_id", reason)
    years, disposition = retention_of(session, case)
    close_case(session, actor, case, years=years, disposition=disposition, automatic=False)
    return case


def _closable(today: dt.date) -> list[ColumnElement[bool]]:
    """What must hold of an open case file for the sweep to close it, as SQL."""
    process_done = exists(
        select(JournalEntry.id).where(
            JournalEntry.case_id == CaseFile.id, JournalEntry.action == PROCESS_DONE
        )
    )
    any_delivery = _deliveries(CaseFile.id)
    return [
        CaseFile.status == CaseStatus.OPEN,
        # A process that is done, or a plain delivery's case file (no case type).
        or_(process_done, and_(CaseFile.case_type.is_(None), any_delivery)),
        not_(_deliveries(CaseFile.id, Delivery.status.in_(_PENDING))),
        not_(
            _deliveries(
                CaseFile.id,
                Delivery.status.in_(_DELIVERED),
                Delivery.receipt_document_id.is_(None),
            )
        ),
        # Every period over: the last day of an appeal period is still inside it.
        not_(_deliveries(CaseFile.id, Delivery.due_date >= today)),
        not_(
            exists(select(Step.id).where(Step.case_id == CaseFile.id, Step.status.not_in(FINISHED)))
        ),
        not_(
            exists(select(Fee.id).where(Fee.case_id == CaseFile.id, Fee.status == FeeStatus.BILLED))
        ),
        # A resident's reply nobody has dealt with yet keeps the matter open.
        not_(
            exists(
                select(Message.id).where(
                    Message.case_id == CaseFile.id,
                    Message.kind == MessageKind.REPLY,
                    Message.handled_at.is_(None),
                )
            )
        ),
    ]


def sweep(session: Session, as_of: str | None = None, limit: int = 500) -> int:
    """The periodic job: close the case files whose process and periods are over."""
    moment = dt.datetime.fromisoformat(as_of) if as_of else utcnow()
    today = local_day(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
    stmt = select(CaseFile).where(*_closable(today)).order_by(CaseFile.created_at).limit(limit)
    closed = 0
    portal = Actor.system()
    for case in session.scalars(stmt).all():
        years, disposition = retention_of(session, case)
        close_case(session, portal, case, years=years, disposition=disposition, automatic=True)
        closed += 1
    return closed
