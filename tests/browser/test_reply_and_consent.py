"""Issue 3's resident flows in the browser: giving consent, then replying from inside the
dossier with an attachment; the clerk sees the reply in the work queue."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from mailbox.models import Message
from tests.browser.test_core_loop import deliver_directly, log_in
from tests.conftest import make_pdf

SUBMIT = "button[type=submit]"


def test_consent_can_be_given_and_revoked(new_page, demo, shot):
    chiara = [a for k, a in demo.items() if "@" in k and a["name"] == "Chiara Rossi"][0]
    page = new_page()
    log_in(page, chiara)
    page.goto("/settings")
    consent_form = page.locator("main form:has(input[name=consent][value=give])")
    expect(consent_form).to_be_visible()
    shot(page, "settings")
    consent_form.locator(SUBMIT).click()
    revoke_form = page.locator("main form:has(input[name=consent][value=revoke])")
    expect(revoke_form).to_be_visible()
    expect(page.locator(".flash-success")).to_be_visible()
    revoke_form.locator(SUBMIT).click()
    expect(consent_form).to_be_visible()


def test_resident_replies_from_the_dossier(new_page, demo, runtime, tmp_path, shot):
    case_id = deliver_directly(runtime, demo, "Rückfragen zur Baubewilligung")
    resident = new_page()
    log_in(resident, demo["resident"])
    resident.goto(f"/cases/{case_id}")
    resident.locator("#messages a[href*='/messages/']").first.click()
    resident.locator(f"form[action$='/open'] {SUBMIT}").click()
    reply_form = resident.locator("main form:has(textarea[name=text])")
    expect(reply_form).to_be_visible()
    attachment = tmp_path / "stellungnahme.pdf"
    attachment.write_bytes(make_pdf("Stellungnahme"))
    reply_form.locator("textarea[name=text]").fill("Die Unterlagen folgen per Post.")
    reply_form.locator("input[type=file]").set_input_files(str(attachment))
    shot(resident, "reply")
    reply_form.locator(SUBMIT).click()
    expect(resident.locator(".flash-success")).to_be_visible()
    expect(resident.locator("#messages")).to_contain_text("Die Unterlagen folgen per Post.")

    with runtime.sessions() as session:
        reply: Any = session.scalars(select(Message).where(Message.direction == "inbound")).one()
        assert [d.current.filename for d in reply.documents] == ["stellungnahme.pdf"]

    clerk = new_page()
    log_in(clerk, demo["clerk"])
    clerk.goto("/office/replies")
    expect(clerk.locator("main")).to_contain_text("Die Unterlagen folgen per Post.")
    shot(clerk, "replies")
    clerk.locator(f"main form {SUBMIT}").first.click()
    expect(clerk.locator("main")).not_to_contain_text("Die Unterlagen folgen per Post.")
