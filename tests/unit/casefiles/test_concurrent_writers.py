"""Two transactions that both reference a case file and then append to its journal must queue,
not deadlock (PostgreSQL: an FK insert holds KEY SHARE on the case row)."""

from __future__ import annotations

import contextlib
import threading

from casefiles.journal import entries
from casefiles.journal import record as record_entry
from casefiles.models import CaseFile, Document
from casefiles.operations import open_case
from casefiles.verify import verify_case
from directory.actors import Actor
from directory.identifiers import make_ahvn13
from directory.models import AuthorityLevel
from directory.operations import register_authority, register_person
from storage.db import transaction


def test_writers_that_reference_the_case_queue_for_the_journal(runtime):
    with transaction(runtime.sessions) as session:
        authority = register_authority(
            session, slug="conc", name="Testamt", level=AuthorityLevel.CANTON
        )
        person = register_person(
            session, given_name="Anna", family_name="Muster", ahvn13=make_ahvn13(444555666)
        )
        case = open_case(
            session,
            Actor.system(),
            title="Gesuch",
            authority=authority,
            parties=[(person, "applicant")],
        )
        case_id = case.id

    # Both writers insert a row referencing the case before either records: on PostgreSQL each
    # then holds a KEY SHARE lock on the case row. The barrier times out on SQLite, where the
    # second transaction cannot begin writing until the first commits; that is fine there.
    barrier = threading.Barrier(2, timeout=2)
    errors: list[BaseException] = []
    met: list[int] = []  # writers that reached the barrier while the other was in its transaction

    def writer(n: int) -> None:
        try:
            with transaction(runtime.sessions) as session:
                case = session.get(CaseFile, case_id)
                session.add(Document(case_id=case_id, title=f"Beilage {n}", created_by="test"))
                session.flush()
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
                    met.append(n)
                record_entry(session, case, Actor.system(), "note.added", {"n": n})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    if runtime.engine.dialect.name == "postgresql":
        # Both were inside their transactions, holding their KEY SHARE locks, at the same time:
        # the case this test is about, not two writers that merely ran one after the other.
        assert sorted(met) == [1, 2]
    else:
        assert met == []  # SQLite lets one writer in at a time: the barrier cannot be met
    with transaction(runtime.sessions) as session:
        case = session.get(CaseFile, case_id)
        assert [e.seq for e in entries(session, case)] == [1, 2, 3]
        assert verify_case(session, case).ok
