"""Every declared service, end to end: ordered by residents of two communes, routed to the
office that is responsible for each of them, every step run by that office's clerk (a request
for information answered by the resident, a forward, done, a decision, or issued by itself),
and then the timeline, the sealed documents, the journal and `portal verify` checked.

Answers come from the declarations (tests/support/ordering_world.py): a new service is tested
here without a line of test code."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from casefiles.journal import entries
from casefiles.models import CaseAuthority, CaseFile, Document
from casefiles.operations import get_case
from catalogue import fees, registry, steps
from catalogue.model import LANGUAGES, Rule, Service
from catalogue.models import Fee, FeeStatus, Step, StepStatus
from catalogue.outcomes import Decided, Done, Forwarded, NeedsInformation
from directory.actors import Actor
from directory.models import Authority
from tests.functional.test_verify_cli import run_verify
from tests.support.ordering_world import actor_of, answers_for, clerk_of, party_of, place

# Who is responsible where, as the demo's register says (/work SLUGS: directory/data).
_BY_TASK = {
    "einwohnerdienste": {1061: "stadt-luzern-einwohnerdienste", 1024: "emmen-einwohnerdienste"},
    "steueramt": {1061: "stadt-luzern-steueramt", 1024: "emmen-steueramt"},
    "betreibungsamt": {1061: "betreibungsamt-luzern", 1024: "betreibungsamt-emmen"},
}
for _task in ("hundekontrolle", "parkkarten", "veranstaltungen"):
    _BY_TASK[_task] = _BY_TASK["einwohnerdienste"]
FORWARD_TO = "kriens-einwohnerdienste"


def expected_slug(rule: Rule, bfs: int) -> str:
    if rule.rule == "office":
        assert rule.authority is not None
        return rule.authority
    assert rule.task is not None
    return _BY_TASK[rule.task][bfs]


def _slugs(runtime: Any) -> dict[uuid.UUID, str]:
    with runtime.sessions() as session:
        return {a.id: a.slug for a in session.scalars(select(Authority))}


def _open_steps(runtime: Any, case_id: uuid.UUID) -> list[Step]:
    with runtime.sessions() as session:
        rows = session.scalars(
            select(Step).where(Step.case_id == case_id).order_by(Step.position)
        ).all()
        for row in rows:
            session.expunge(row)
    return [r for r in rows if r.status == StepStatus.OPEN]


def _run_steps(
    runtime: Any, resident: Actor, service: Service, case_id: uuid.UUID, *, first: bool
) -> set[str]:
    """Work every step as it opens, until none is open; what was done. For the first resident
    a step asks for information and the last one is forwarded and decided; for the second the
    steps are simply done (sealing costs: the suite stays fast)."""
    did: set[str] = set() if first else {"asked"}
    forward = first
    slugs = _slugs(runtime)
    for _round in range(3 * len(service.steps) + 2):
        open_now = _open_steps(runtime, case_id)
        if not open_now and _pay_fee_first(runtime, case_id, slugs):
            did.add("paid")
            continue
        if not open_now:
            break
        row = open_now[0]
        slug = slugs[row.authority_id]  # type: ignore[index]
        clerk = clerk_of(runtime, slug)
        with runtime.transaction() as session:
            steps.claim(session, clerk, row.id)
        if "asked" not in did:
            with runtime.transaction() as session:
                steps.record_outcome(session, clerk, row.id, NeedsInformation("Bitte ergänzen."))
            with runtime.transaction() as session:
                steps.answer_information(session, resident, row.id, "Ergänzt.", [])
            did.add("asked")
        last = row.position == max(s.position for s in open_now) and not _later_steps(
            runtime, case_id, row
        )
        if forward and last and "forwarded" not in did and slug != FORWARD_TO:
            with runtime.transaction() as session:
                steps.record_outcome(session, clerk, row.id, Forwarded(FORWARD_TO, "Zuständig"))
            did.add("forwarded")
            continue  # the new authority works it in the next round
        with runtime.transaction() as session:
            if last and first:
                outcome: Any = Decided(f"Entscheid {service.title.de}", "Bewilligt.", [], 30)
                did.add("decided")
            else:
                outcome = Done("Erledigt")
                did.add("done")
            steps.record_outcome(session, clerk, row.id, outcome)
    assert not _open_steps(runtime, case_id), service.id
    return did


def _pay_fee_first(runtime: Any, case_id: uuid.UUID, slugs: dict[uuid.UUID, str]) -> bool:
    """A fee due before holds the steps: its authority marks it paid (catalogue/fees.py)."""
    with runtime.sessions() as session:
        unpaid = [
            (f.id, f.authority_id)
            for f in session.scalars(select(Fee).where(Fee.case_id == case_id))
            if f.status == FeeStatus.BILLED and f.due == "before"
        ]
    for fee_id, authority_id in unpaid:
        clerk = clerk_of(runtime, slugs[authority_id])
        with runtime.transaction() as session:
            fees.mark_paid(session, clerk, fee_id)
    return bool(unpaid)


def _later_steps(runtime: Any, case_id: uuid.UUID, row: Step) -> bool:
    with runtime.sessions() as session:
        return bool(
            session.scalar(
                select(Step.id).where(
                    Step.case_id == case_id,
                    Step.id != row.id,
                    Step.status.in_((StepStatus.WAITING, StepStatus.OPEN)),
                )
            )
        )


def _check_case(runtime: Any, resident: Actor, service: Service, case_id: uuid.UUID) -> None:
    with runtime.sessions() as session:
        case = get_case(session, resident, case_id)
        line = steps.timeline(session, resident, case)
        assert [i.state.finished for i in line] == [True] * len(service.steps), service.id
        for item in line:
            assert all(item.status_label.get(lang) for lang in LANGUAGES)
            assert item.state == StepStatus.SKIPPED or item.authority_name
        journal = entries(session, case)
        actions = [e.action for e in journal]
        assert actions[0] == "case.opened" and "case.ordered" in actions, service.id
        assert actions.count(steps.PROCESS_DONE) == 1, (service.id, actions)
        for entry in journal:
            if entry.action.startswith("step."):
                assert entry.payload["authority"]["name"], entry.action
        # Every authority that acted sees the case file.
        taking_part = set(
            session.scalars(
                select(CaseAuthority.authority_id).where(CaseAuthority.case_id == case_id)
            )
        )
        rows = session.scalars(select(Step).where(Step.case_id == case_id)).all()
        assert {r.authority_id for r in rows if r.status != StepStatus.SKIPPED} <= taking_part
        # The portal's documents are sealed, and the seals are intact.
        documents = session.scalars(select(Document).where(Document.case_id == case_id)).all()
        sealed = [d.current for d in documents if d.current.signatures]
        assert sealed, service.id
        assert all(s["intact"] for v in sealed for s in v.signatures or [])
        decided = [r for r in rows if r.status == StepStatus.DECIDED]
        messages = {d.title for d in documents}
        assert len(sealed) >= 1 + len(decided), (service.id, messages)


def test_every_declared_service_end_to_end(runtime, demo, tmp_path):
    residents = [
        actor_of(runtime, demo["resident"]["login"]),  # Anna, Luzern (1061)
        actor_of(runtime, demo["other_resident"]["login"]),  # Beat, Emmen (1024)
    ]
    slugs = _slugs(runtime)
    services = registry.default().all()
    assert len(services) >= 15
    did: set[str] = set()
    for service in services:
        for n, resident in enumerate(residents):
            party = party_of(runtime, resident)
            if party.kind.value not in service.who:
                continue
            assert party.bfs in (1061, 1024)
            raw, files = answers_for(service, party)
            case_id = place(runtime, resident, service.id, raw, files)
            with runtime.sessions() as session:
                lead = session.get_one(CaseFile, case_id).authority_id
            assert slugs[lead] == expected_slug(service.responsible, party.bfs), service.id
            with runtime.sessions() as session:
                rows = session.scalars(select(Step).where(Step.case_id == case_id)).all()
                routed = {r.step_id: r.authority_id for r in rows}
            for declared in service.steps:
                if routed[declared.id] is not None and declared.responsible is not None:
                    rule = declared.responsible
                    want = expected_slug(rule, party.bfs)
                    assert slugs[routed[declared.id]] == want, (service.id, declared.id)
            did |= _run_steps(runtime, resident, service, case_id, first=n == 0)
            _check_case(runtime, resident, service, case_id)
    assert did >= {"asked", "forwarded", "done", "decided"}
    done = run_verify(runtime, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
