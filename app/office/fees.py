"""Fees in the case file: the resident sees each fee and whether it is paid; a clerk of the
billing authority marks it paid (POST, CSRF like every form). catalogue.fees decides: another
authority's fee is 404, a fee already paid is refused with 409 and the page says why."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.office import bp
from app.office.views import clerk
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from casefiles.models import CaseFile
from catalogue import fees
from catalogue.models import Fee, FeeStatus


@dataclass(frozen=True)
class FeeView:
    id: uuid.UUID
    reason: str
    amount: str
    due: str
    paid: bool
    billed_at: object
    paid_at: object
    reference: str
    account: str
    may_mark_paid: bool


def _view(fee: Fee, authority_id: uuid.UUID | None) -> FeeView:
    return FeeView(
        id=fee.id,
        reason=fee.reason,
        amount=f"{fees.amount_of(fee):.2f}",
        due=fee.due,
        paid=fee.status == FeeStatus.PAID,
        billed_at=fee.billed_at,
        paid_at=fee.paid_at,
        reference=fee.reference,
        account=fee.account,
        may_mark_paid=fee.status == FeeStatus.BILLED and fee.authority_id == authority_id,
    )


@bp.app_template_global("case_fees")
def case_fees(case: CaseFile) -> list[FeeView]:
    """The fees of the case file as the logged-in person may see them (cases/_fees.html)."""
    if not current_user.is_authenticated:
        return []
    me = actor()
    return [_view(f, me.authority_id) for f in fees.fees_of(db(), me, case)]


@bp.route("/fees/<fee_id>/paid", methods=["POST"])
@login_required
@not_found_on_denied
def mark_paid(fee_id: str) -> Response | tuple[str, int]:
    me = clerk()
    session = db()
    fee = fees.get_fee(session, me, parse_id(fee_id))  # 404 for another authority's fee
    case_id = fee.case_id
    try:
        fees.mark_paid(session, me, fee.id)
    except fees.AlreadyPaid as exc:
        from app.portal.dossier import render_case

        return render_case(case_id, fee_errors={fee.id: _(exc.message)}), 409
    flash(_("The fee is marked as paid."), "success")
    return redirect(url_for("portal.case", case_id=case_id) + "#fees")
