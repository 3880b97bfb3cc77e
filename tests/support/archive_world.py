"""Closed case files for the archivists' tests (web and browser): opened by a clerk as a
delivery would, with one PDF, and closed with H1's close_case (retention 0 years: due today)."""

from __future__ import annotations

import io
import uuid
from typing import Any

from sqlalchemy import select

from casefiles.documents import Upload, check_upload
from casefiles.lifecycle import close_case
from casefiles.models import CaseFile
from casefiles.operations import add_document, open_case
from directory.actors import Actor
from directory.models import Account, Authority, Party
from tests.conftest import make_pdf

AUTHORITY = "stadt-luzern-einwohnerdienste"


def close_cases(
    runtime: Any,
    titles: list[str],
    *,
    disposition: str = "archive",
    years: int = 0,
    document: bool = False,
    authority: str = AUTHORITY,
) -> list[uuid.UUID]:
    """Open and close one case file per title (held by Anna), in one transaction."""
    checked = (
        check_upload(Upload(filename="akte.pdf", stream=io.BytesIO(make_pdf("Akte"))))
        if document
        else None
    )
    ids = []
    try:
        with runtime.transaction() as session:
            office = session.scalars(select(Authority).where(Authority.slug == authority)).one()
            clerk = Actor.system(f"Kanzlei {office.name}")
            holder = session.scalars(
                select(Party).join(Account, Account.party_id == Party.id)
                .where(Account.login == "anna.muster@example.ch")
            ).one()  # fmt: skip
            for title in titles:
                case = open_case(session, clerk, title=title, authority=office,
                                 parties=[(holder, "recipient")])  # fmt: skip
                if checked is not None:
                    checked.spool.seek(0)
                    add_document(session, clerk, case, checked, title=title)
                close_case(session, clerk, case, years=years, disposition=disposition,
                           automatic=False)  # fmt: skip
                ids.append(case.id)
    finally:
        if checked is not None:
            checked.close()
    return ids


def case_row(runtime: Any, case_id: uuid.UUID) -> CaseFile | None:
    with runtime.sessions() as session:
        row = session.get(CaseFile, case_id)
        if row is not None:
            session.expunge(row)
        return row
