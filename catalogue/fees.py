"""Fees: billed to the case file's holder with a Swiss QR-bill, marked paid by the authority.

A declaration's fee is due `before` (fee first: the order is billed at once and its first steps
wait until the fee is paid) or `with_decision` (the QR-bill comes with the decision, as a
second PDF of the same delivery). Each change is one signed journal entry, `fee.billed` or
`fee.paid`, holding the fee's row as it is afterwards and naming the billing authority.

Hooks for the other modules of the package (kept small on purpose):
- catalogue/ordering.py: `hold(service, planned)` before creating the steps and
  `bill_before(session, case, service)` after `case.ordered`;
- catalogue/steps.py: `advance` returns early while `waiting_for_fee(session, case)`; a Decided
  outcome adds `decision_files(...)` to the decision's files.
"""

from __future__ import annotations

import dataclasses
import decimal
import logging
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import record
from casefiles.models import CaseFile
from casefiles.operations import get_case
from catalogue import automatic, qrbill_pdf
from catalogue import model as declared
from catalogue.models import Fee, FeeStatus, Step, StepStatus
from directory.actors import Actor
from directory.models import Authority, Party
from mailbox.letters import RecipientNotReachable
from mailbox.models import MessageKind
from mailbox.operations import DeliveryOptions, deliver
from mailbox.seals import PreparedFile
from storage.db import utcnow

log = logging.getLogger(__name__)

BEFORE, WITH_DECISION = "before", "with_decision"
MAX_AMOUNT = decimal.Decimal("99999.99")
MAX_REASON = 300


class AlreadyPaid(InvalidInput):
    code = "already_paid"

    def __init__(self) -> None:
        super().__init__("fee", "This fee is already marked as paid.")


def facts(fee: Fee) -> dict[str, Any]:
    """The fee's row as the journal records it."""
    return {
        "id": str(fee.id),
        "case_id": str(fee.case_id),
        "authority": str(fee.authority_id),
        "step": str(fee.step_id) if fee.step_id else None,
        "amount": f"{amount_of(fee):.2f}",
        "currency": fee.currency,
        "due": fee.due,
        "reason": fee.reason,
        "account": fee.account,
        "reference": fee.reference,
        "status": fee.status.value,
        "billed_at": fee.billed_at.isoformat(),
        "paid_at": fee.paid_at.isoformat() if fee.paid_at else None,
        "paid_by": str(fee.paid_by) if fee.paid_by else None,
    }


def amount_of(fee: Fee) -> decimal.Decimal:
    return (decimal.Decimal(fee.amount_rappen) / 100).quantize(decimal.Decimal("0.01"))


def _amount(value: object) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, decimal.Decimal | int | str):
        raise InvalidInput("amount", "A fee is an amount in francs above 0.")
    try:
        amount = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise InvalidInput("amount", "A fee is an amount in francs above 0.") from None
    if (
        not amount.is_finite()
        or not 0 < amount <= MAX_AMOUNT
        or amount != amount.quantize(decimal.Decimal("0.01"))
    ):
        raise InvalidInput("amount", "A fee is an amount in francs above 0.")
    return amount.quantize(decimal.Decimal("0.01"))


def _address(name: str, street: str | None, postcode: str | None, town: str | None
             ) -> qrbill_pdf.Address | None:  # fmt: skip
    if not (postcode and town):
        return None
    return qrbill_pdf.Address(name=name, street=street, postcode=postcode, town=town)


def invoice(session: Session, fee: Fee, language: str = "de") -> qrbill_pdf.Invoice:
    """What the fee's bill shows: the authority as creditor, the holder as debtor."""
    authority = session.get_one(Authority, fee.authority_id)
    case = session.get_one(CaseFile, fee.case_id)
    holder = session.get_one(Party, case.party_id)
    creditor = _address(authority.name, authority.street, authority.postcode, authority.town)
    if creditor is None:
        raise InvalidInput("fee", "%(authority)s has no postal address for a QR-bill.",
                           authority=authority.name)  # fmt: skip
    amount = amount_of(fee)
    first = (
        "Bitte bezahlen Sie diese Gebühr, bevor wir Ihre Bestellung bearbeiten."
        if fee.due == BEFORE
        else "Bitte bezahlen Sie diese Gebühr innert 30 Tagen."
    )
    return qrbill_pdf.Invoice(
        creditor=creditor,
        account=fee.account,
        amount=amount,
        reference=fee.reference,
        debtor=_address(holder.display_name or "", holder.street, holder.postcode, holder.town),
        title=f"Rechnung: {fee.reason}"[:80],
        lines=(
            f"{fee.reason}: CHF {amount:.2f}",
            first,
            f"Dossier {case.reference}",
        ),
        information=f"Dossier {case.reference}",
        language=language,
    )


def render(session: Session, fee: Fee) -> bytes:
    """The bill with its QR-bill as PDF (not yet sealed)."""
    pdf, _ = qrbill_pdf.render(invoice(session, fee))
    return pdf


def bill(
    session: Session,
    actor: Actor,
    case: CaseFile,
    *,
    amount: decimal.Decimal | str,
    reason: str,
    step: Step | None = None,
    due: str = WITH_DECISION,
    send: bool = True,
) -> Fee:
    """Bill the case file's holder for the actor's authority: the fee row, `fee.billed`, and
    (with `send`) the sealed bill delivered into the case file."""
    actor.require_authority()
    case = get_case(session, actor, case.id)  # NotFound outside the case files it may see
    authority = session.get_one(Authority, actor.authority_id)
    if not authority.qr_iban:
        raise InvalidInput("fee", "%(authority)s has no QR-IBAN: no QR-bill can be issued.",
                           authority=authority.name)  # fmt: skip
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON or "\x00" in reason:
        raise InvalidInput("reason", "Name what the fee is for (at most 300 characters).")
    if due not in (BEFORE, WITH_DECISION):
        raise InvalidInput("due", "A fee is due before or with the decision.")
    value = _amount(amount)
    fee_id = uuid.uuid4()
    fee = Fee(
        id=fee_id,
        case_id=case.id,
        authority_id=authority.id,
        step_id=step.id if step else None,
        amount_rappen=int(value * 100),
        currency="CHF",
        due=due,
        reason=reason,
        account=authority.qr_iban.replace(" ", "").upper(),
        reference=qrbill_pdf.reference_for(authority.qr_iban.replace(" ", ""), fee_id.int),
        status=FeeStatus.BILLED,
        billed_at=utcnow(),
    )
    try:
        pdf = render(session, fee)  # checks the data before anything is written
    except ValueError as exc:  # qrbill refuses an IBAN, an address or an amount
        raise InvalidInput("fee", "No QR-bill can be issued: %(reason)s", reason=str(exc)) from None
    session.add(fee)
    session.flush()
    delivery_id = None
    if send:
        delivery_id = _send(session, actor, case, fee, authority, pdf)
    payload: dict[str, Any] = {
        "fee": facts(fee), "authority": {"id": str(authority.id), "name": authority.name},
    }  # fmt: skip
    if delivery_id:  # only then: a resident's history shows entries of their own deliveries
        payload["delivery_id"] = str(delivery_id)
    record(session, case, actor, "fee.billed", payload)
    return fee


def _file_name(fee: Fee) -> str:
    return f"Rechnung-{fee.reference[-10:]}.pdf"


def _send(
    session: Session, actor: Actor, case: CaseFile, fee: Fee, authority: Authority, pdf: bytes
) -> uuid.UUID | None:
    """Deliver the bill on its own; None when the holder takes no electronic deliveries (the
    authority then sends it on paper: the fee stands all the same)."""
    file = automatic.sealed_file(session, authority, _file_name(fee), pdf)
    try:
        delivery = deliver(
            session,
            actor,
            recipient_id=case.party_id,
            kind=MessageKind.LETTER,
            subject=f"Rechnung: {fee.reason}"[:300],
            files=[file],
            body=f"{fee.reason}: CHF {amount_of(fee):.2f}. Der Einzahlungsschein mit QR-Code "
            "liegt bei.",
            options=DeliveryOptions(case_id=case.id, seal=bool(authority.seal_ref)),
        )
    except RecipientNotReachable:
        return None
    return delivery.id


def decision_files(
    session: Session,
    actor: Actor,
    step: Step,
    service: declared.Service,
    amount: decimal.Decimal | None = None,
    *,
    send: bool = False,
) -> list[PreparedFile]:
    """The bill that goes with a decision, as a second PDF of its delivery: the outcome's fee,
    else the declaration's `with_decision` fee once per case file; [] when nothing is due.
    With `send` (a decision the portal issued on its own) the bill is delivered by itself."""
    fee_spec = service.fee
    if amount is None:
        if fee_spec is None or fee_spec.due != WITH_DECISION:
            return []
        billed = session.scalar(select(Fee.id).where(
            Fee.case_id == step.case_id, Fee.due == WITH_DECISION))  # fmt: skip
        if billed is not None:
            return []
        amount = fee_spec.amount
        if not _can_bill(session, step.authority_id):
            return []
    reason = fee_spec.reason.de if fee_spec and fee_spec.reason else f"Gebühr {service.title.de}"
    fee = bill(session, actor, step.case, amount=amount, reason=reason, step=step, send=send)
    if send:
        return []
    authority = session.get_one(Authority, fee.authority_id)
    return [automatic.sealed_file(session, authority, _file_name(fee), render(session, fee))]


def _can_bill(session: Session, authority_id: uuid.UUID | None) -> bool:
    """Whether the authority can issue a QR-bill. A declared fee of an authority without a
    QR-IBAN or address is not billed (logged) rather than refusing the order or the decision:
    the authority then bills on paper, as before the portal."""
    authority = session.get(Authority, authority_id) if authority_id else None
    if authority is None or not (authority.qr_iban and authority.postcode and authority.town):
        log.warning("fee not billed: authority %s has no QR-IBAN or address", authority_id)
        return False
    return True


P = TypeVar("P")


def hold(service: declared.Service, planned: Sequence[P]) -> list[P]:
    """Fee first: the steps that would open wait until the fee is paid (planned steps are
    frozen dataclasses with a `status`)."""
    if service.fee is None or service.fee.due != BEFORE:
        return list(planned)
    return [
        dataclasses.replace(p, status=StepStatus.WAITING)  # type: ignore[type-var]
        if getattr(p, "status", None) == StepStatus.OPEN
        else p
        for p in planned
    ]


def bill_before(session: Session, case: CaseFile, service: declared.Service) -> Fee | None:
    """At ordering: bill a fee that is due before, in the name of the lead authority."""
    if service.fee is None or service.fee.due != BEFORE:
        return None
    if not _can_bill(session, case.authority_id):
        return None
    authority = session.get_one(Authority, case.authority_id)
    reason = service.fee.reason.de if service.fee.reason else f"Gebühr {service.title.de}"
    actor = automatic.authority_actor(authority)
    return bill(session, actor, case, amount=service.fee.amount, reason=reason, due=BEFORE)


def waiting_for_fee(session: Session, case: CaseFile) -> bool:
    """Whether a fee due before is still unpaid: the steps do not open until it is."""
    return (
        session.scalar(
            select(Fee.id).where(
                Fee.case_id == case.id, Fee.due == BEFORE, Fee.status == FeeStatus.BILLED
            )
        )
        is not None
    )


def get_fee(session: Session, actor: Actor, fee_id: uuid.UUID) -> Fee:
    """A fee as the actor may see it: the billing authority's own, or a fee of the resident's
    own case file; NotFound for everyone else."""
    fee = session.get(Fee, fee_id)
    if fee is None:
        raise NotFound("fee")
    if actor.authority_id is not None:
        if fee.authority_id != actor.authority_id:
            raise NotFound("fee")
    else:
        get_case(session, actor, fee.case_id)
    return fee


def mark_paid(session: Session, actor: Actor, fee_id: uuid.UUID) -> Fee:
    """The billing authority marks the fee paid (`fee.paid`); steps waiting for it open."""
    actor.require_authority()
    fee = get_fee(session, actor, fee_id)
    session.refresh(fee, with_for_update={"key_share": True})  # two clerks: one wins cleanly
    if fee.status == FeeStatus.PAID:
        raise AlreadyPaid()
    fee.status, fee.paid_at, fee.paid_by = FeeStatus.PAID, utcnow(), actor.account_id
    session.flush()
    authority = session.get_one(Authority, fee.authority_id)
    case = session.get_one(CaseFile, fee.case_id)
    record(session, case, actor, "fee.paid", {
        "fee": facts(fee), "authority": {"id": str(authority.id), "name": authority.name},
    })  # fmt: skip
    if fee.due == BEFORE and not waiting_for_fee(session, case):
        fee_settled(session, actor, case)
    return fee


def fee_settled(session: Session, actor: Actor, case: CaseFile) -> None:
    """Open the steps that waited for the fee (catalogue/steps.py's advance does the work)."""
    # Imported here: catalogue/steps.py imports this module for its hooks.
    from catalogue.steps import advance, service_of

    advance(session, actor, case, service_of(session, case))


def fees_of(session: Session, actor: Actor, case: CaseFile) -> list[Fee]:
    """The fees of a case file the actor may see (its holder, the authorities taking part)."""
    get_case(session, actor, case.id)
    return list(session.scalars(select(Fee).where(Fee.case_id == case.id).order_by(Fee.billed_at)))
