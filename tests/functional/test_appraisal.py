"""Appraisal of closed case files (issue 10): four eyes, only after the retention date, only by
archivists; the archivists' list with its filters and pages; archivists do not see open case
files; every step a journal entry that `portal verify` accepts."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from casefiles import appraisal
from casefiles.appraisal import AppraisalConflict, ArchiveFilters, FourEyes
from casefiles.archive_models import AppraisalStatus, Export, ExportStatus
from casefiles.errors import InvalidInput, NotFound
from casefiles.lifecycle import close_case
from casefiles.models import CaseFile, JournalEntry
from casefiles.operations import get_case, open_case
from directory.actors import AccessDenied, Actor
from directory.models import Account, Authority, Party
from storage.blobs import store_blob
from tests.conftest import login
from tests.functional.test_verify_cli import run_verify

SECOND = "archiv2@staatsarchiv.demo"


def _actor(runtime: Any, login_name: str) -> Actor:
    with runtime.sessions() as session:
        account = session.scalars(select(Account).where(Account.login == login_name)).one()
        return Actor.for_account(account)


@pytest.fixture
def people(runtime, demo) -> dict[str, Actor]:
    return {
        "first": _actor(runtime, demo["archivist"]["login"]),
        "second": _actor(runtime, SECOND),
        "clerk": _actor(runtime, demo["clerk"]["login"]),
        "resident": _actor(runtime, demo["resident"]["login"]),
    }


def _cases(
    runtime: Any,
    titles: list[str],
    *,
    years: int = 0,
    disposition: str = "archive",
    slug: str = "stadt-luzern-einwohnerdienste",
    close: bool = True,
) -> list[uuid.UUID]:
    """Case files of Anna's, opened (and closed) by an authority's clerk."""
    ids = []
    with runtime.transaction() as session:
        office = session.scalars(select(Authority).where(Authority.slug == slug)).one()
        clerk = Actor.system(f"Kanzlei {office.name}")
        holder = session.scalars(
            select(Party).join(Account, Account.party_id == Party.id)
            .where(Account.login == "anna.muster@example.ch")
        ).one()  # fmt: skip
        for title in titles:
            case = open_case(session, clerk, title=title, authority=office,
                             parties=[(holder, "recipient")])  # fmt: skip
            if close:
                close_case(session, clerk, case, years=years, disposition=disposition,
                           automatic=False)  # fmt: skip
            ids.append(case.id)
    return ids


def _actions(runtime: Any, case_id: uuid.UUID) -> list[str]:
    with runtime.sessions() as session:
        stmt = select(JournalEntry.action).where(JournalEntry.case_id == case_id)
        return list(session.scalars(stmt.order_by(JournalEntry.seq)))


def test_four_eyes_approve_archive_and_hand_over(runtime, demo, people, tmp_path):
    [case_id] = _cases(runtime, ["Baugesuch Musegg 3"])
    with runtime.transaction() as session:
        proposal = appraisal.propose(
            session, people["first"], case_id, "archive", "Historisch wertvoll"
        )
        proposal_id = proposal.id
    # The proposer can never decide: neither approve nor reject.
    for approve in (True, False):
        with pytest.raises(FourEyes, match="second archivist"), runtime.transaction() as session:
            appraisal.decide(session, people["first"], proposal_id, approve=approve)
    with pytest.raises(AppraisalConflict, match="waiting already"), runtime.transaction() as s:
        appraisal.propose(s, people["second"], case_id, "destroy", "Doppelt")
    with runtime.transaction() as session:
        decided = appraisal.decide(session, people["second"], proposal_id, approve=True,
                                   note="Einverstanden")  # fmt: skip
        assert decided.status == AppraisalStatus.APPROVED
    with runtime.transaction() as session, pytest.raises(AppraisalConflict):
        appraisal.decide(session, people["second"], proposal_id, approve=False)
    with runtime.sessions() as session:
        [row] = appraisal.appraisals_of(session, case_id)
        assert (row.proposed_by, row.decided_by) == (
            people["first"].account_id,
            people["second"].account_id,
        )
        assert appraisal.pending(session, case_id) is None

    # Handed over: only with a finished export of this case file.
    with runtime.transaction() as session:
        blob = store_blob(session, io.BytesIO(b"PK\x05\x06" + bytes(18)))
        export = Export(case_id=case_id, format="bagit", status=ExportStatus.DONE,
                        blob_id=blob.id, filename="akte.zip",
                        requested_by=people["first"].account_id,
                        requested_by_label=people["first"].label)  # fmt: skip
        running = Export(case_id=case_id, format="bagit", status=ExportStatus.RUNNING,
                         requested_by=people["first"].account_id,
                         requested_by_label=people["first"].label)  # fmt: skip
        session.add_all([export, running])
        session.flush()
        export_id, running_id, sha256 = export.id, running.id, blob.sha256
    with runtime.transaction() as session, pytest.raises(AppraisalConflict, match="not finished"):
        appraisal.mark_transferred(session, people["second"], case_id, running_id)
    with runtime.transaction() as session:
        case = appraisal.mark_transferred(session, people["second"], case_id, export_id)
        assert case.status == "transferred"
    assert _actions(runtime, case_id)[-4:] == [
        "case.closed",
        "appraisal.proposed",
        "appraisal.approved",
        "case.transferred",
    ]
    with runtime.sessions() as session:
        payload = session.scalars(
            select(JournalEntry.payload).where(
                JournalEntry.case_id == case_id, JournalEntry.action == "case.transferred"
            )
        ).one()
    assert payload["sha256"] == sha256 and payload["format"] == "bagit"
    result = run_verify(runtime, str(case_id), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rejected_then_proposed_again(runtime, demo, people):
    [case_id] = _cases(runtime, ["Hundesteuer 2019"], disposition="destroy")
    with runtime.transaction() as session:
        first = appraisal.propose(session, people["second"], case_id, "destroy", "Keine Bedeutung")
        first_id = first.id
    with runtime.transaction() as session:
        rejected = appraisal.decide(session, people["first"], first_id, approve=False,
                                    note="Bitte archivieren")  # fmt: skip
        assert rejected.status == AppraisalStatus.REJECTED
    with runtime.sessions() as session:
        page = appraisal.archive_cases(
            session, people["first"], ArchiveFilters(appraisal="rejected")
        )
        assert case_id in [c.id for c in page.items]
    with runtime.transaction() as session:
        appraisal.propose(session, people["first"], case_id, "archive", "Doch archivieren")
    assert _actions(runtime, case_id)[-3:] == [
        "appraisal.proposed",
        "appraisal.rejected",
        "appraisal.proposed",
    ]


def test_refused_before_the_retention_date_and_bad_input(runtime, demo, people):
    [kept] = _cases(runtime, ["Einbürgerung Muster"], years=50)
    [open_one] = _cases(runtime, ["Noch offen"], close=False)
    with runtime.transaction() as session, pytest.raises(AppraisalConflict, match="kept until"):
        appraisal.propose(session, people["first"], kept, "archive", "Zu früh")
    with runtime.transaction() as session, pytest.raises(NotFound):
        appraisal.propose(session, people["first"], open_one, "archive", "Offen")
    [due] = _cases(runtime, ["Parkkarte 2020"])
    for disposition, reason, field in [
        ("shred", "Grund", "disposition"),
        ("archive", "  ", "reason"),
    ]:
        with runtime.transaction() as session, pytest.raises(InvalidInput) as error:
            appraisal.propose(session, people["first"], due, disposition, reason)
        assert error.value.field == field
    with runtime.transaction() as session, pytest.raises(NotFound):
        appraisal.decide(session, people["second"], uuid.uuid4(), approve=True)
    assert _actions(runtime, due) == ["case.opened", "case.closed"]


@pytest.mark.parametrize("who", ["clerk", "resident"])
def test_only_archivists_appraise(runtime, demo, people, who):
    [case_id] = _cases(runtime, ["Gesuch"])
    with runtime.transaction() as session, pytest.raises(AccessDenied):
        appraisal.propose(session, people[who], case_id, "archive", "Ich will")
    with runtime.transaction() as session:
        proposal_id = appraisal.propose(session, people["first"], case_id, "archive", "Wert").id
    with runtime.transaction() as session, pytest.raises(AccessDenied):
        appraisal.decide(session, people[who], proposal_id, approve=True)
    with runtime.sessions() as session, pytest.raises(AccessDenied):
        appraisal.archive_cases(session, people[who], ArchiveFilters())


def test_archivists_see_closed_case_files_only(app, runtime, demo, people):
    [open_one] = _cases(runtime, ["Offenes Dossier"], close=False)
    [closed] = _cases(runtime, ["Geschlossenes Dossier"])
    with runtime.sessions() as session:
        with pytest.raises(NotFound):
            get_case(session, people["first"], open_one)
        assert get_case(session, people["first"], closed).id == closed
        page = appraisal.archive_cases(session, people["first"], ArchiveFilters(), per_page=200)
        assert closed in [c.id for c in page.items] and open_one not in [c.id for c in page.items]
    client = app.test_client()
    login(client, demo["archivist"])
    assert client.get(f"/cases/{open_one}").status_code == 404
    assert client.get(f"/cases/{closed}").status_code == 200
    assert "Offenes Dossier" not in client.get("/cases").get_data(as_text=True)


def test_the_list_filters_and_pages(runtime, demo, people):
    luzern = _cases(runtime, [f"Stadtakte {n}" for n in range(5)])
    tax = _cases(runtime, ["Steuerakte"], slug="lu-steuern", years=3)
    me = people["first"]
    with runtime.transaction() as session:
        proposal = appraisal.propose(session, me, luzern[0], "archive", "Wert")
        proposal_id = proposal.id
    with runtime.transaction() as session:
        appraisal.decide(session, people["second"], proposal_id, approve=True)
    with runtime.transaction() as session:
        appraisal.propose(session, me, luzern[1], "destroy", "Unwichtig")

    def ids(filters: ArchiveFilters, **kw: Any) -> list[uuid.UUID]:
        with runtime.sessions() as session:
            return [c.id for c in appraisal.archive_cases(session, me, filters, **kw).items]

    mine = set(luzern) | set(tax)
    assert set(ids(ArchiveFilters(q="Stadtakte"), per_page=200)) == set(luzern)
    assert ids(ArchiveFilters(q="steuerAKTE")) == tax
    with runtime.sessions() as session:
        office = session.scalars(select(Authority).where(Authority.slug == "lu-steuern")).one()
        today = session.get_one(CaseFile, tax[0]).closed_at.date()
    assert set(ids(ArchiveFilters(authority_id=office.id))) & mine == set(tax)
    assert tax[0] not in ids(ArchiveFilters(retention_due_by=today), per_page=200)
    assert luzern[2] in ids(ArchiveFilters(retention_due_by=today), per_page=200)
    assert mine <= set(ids(ArchiveFilters(closed_from=today, closed_to=today), per_page=200))
    assert ids(ArchiveFilters(closed_to=today.replace(year=today.year - 1))) == []
    assert ids(ArchiveFilters(appraisal="approved_archive")) == [luzern[0]]
    assert ids(ArchiveFilters(appraisal="proposed")) == [luzern[1]]
    assert luzern[2] in ids(ArchiveFilters(appraisal="none"), per_page=200)
    assert luzern[0] not in ids(ArchiveFilters(appraisal="none"), per_page=200)

    with runtime.sessions() as session:
        first = appraisal.archive_cases(session, me, ArchiveFilters(q="Stadtakte"), per_page=2)
        last = appraisal.archive_cases(
            session, me, ArchiveFilters(q="Stadtakte"), page=3, per_page=2
        )
    assert (first.total, first.pages, len(first.items)) == (5, 3, 2)
    assert len(last.items) == 1 and last.page == 3
    seen = [c.id for c in first.items] + [c.id for c in last.items]
    assert len(set(seen)) == 3
    for bad in ({"page": 0}, {"per_page": 0}, {"per_page": 201}):
        with runtime.sessions() as session, pytest.raises(InvalidInput):
            appraisal.archive_cases(session, me, ArchiveFilters(), **bad)
    with runtime.sessions() as session, pytest.raises(InvalidInput):
        appraisal.archive_cases(session, me, ArchiveFilters(appraisal="lost"))


def test_approved_destruction_destroys(runtime, demo, people, tmp_path):
    from casefiles.destruction import destroyed

    [case_id] = _cases(runtime, ["Parkbusse 2018"], disposition="destroy")
    with runtime.transaction() as session:
        proposal_id = appraisal.propose(
            session, people["first"], case_id, "destroy", "Frist abgelaufen"
        ).id
    with runtime.transaction() as session:
        appraisal.decide(session, people["second"], proposal_id, approve=True)
    with runtime.sessions() as session:
        assert session.get(CaseFile, case_id) is None
        record = destroyed(session, case_id)
        assert record is not None
        assert record.payload["proposed_by"] == people["first"].label
        assert record.payload["approved_by"] == people["second"].label
        assert record.payload["reason"] == "Frist abgelaufen"
    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
