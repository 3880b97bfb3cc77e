"""The core loop in a real browser: a clerk delivers, the resident opens and downloads, both see
the dossier. Plus keyboard use, a phone-size screen and a bad upload.

Elements are found by ids, names and structure, not by their words: the German catalogue is
still being written, so the visible text may change under these tests.
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.runtime import Runtime
from casefiles.documents import Upload, check_upload
from casefiles.models import CaseFile
from directory.actors import Actor
from directory.models import Account
from directory.operations import find_party
from mailbox.models import Delivery
from mailbox.operations import deliver
from tests.conftest import make_pdf, wait_for

SUBJECT = "Baubewilligung Nr. 2026-17"
BODY = "Bitte beachten Sie die Rechtsmittelbelehrung."
SUBMIT = "button[type=submit]"
UPLOAD_FORM = "main form[enctype='multipart/form-data']"
PHONE = {"width": 375, "height": 812}


def log_in(page: Page, account: dict[str, Any]) -> None:
    page.goto("/login")
    page.locator("#field-login").fill(account["login"])
    page.locator("#field-password").fill(account["password"])
    page.locator(f"main form {SUBMIT}").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def deliver_directly(runtime: Runtime, demo: dict[str, Any], subject: str) -> uuid.UUID:
    """A delivery made through the domain, for tests that start at the resident's side."""
    with runtime.transaction() as session:
        account = session.scalars(
            select(Account).where(Account.login == demo["clerk"]["login"])
        ).one()
        clerk = Actor.for_account(account)
        recipient = find_party(session, clerk, demo["resident"]["ahvn13"])
        checked = check_upload(Upload("verfuegung.pdf", io.BytesIO(make_pdf(subject))))
        try:
            delivery = deliver(
                session,
                clerk,
                recipient_id=recipient.id,
                kind="decision",
                subject=subject,
                body=BODY,
                files=[checked],
            )
        finally:
            checked.close()
        return delivery.message.case_id


def timeline_entry_by(page: Page, who: str) -> Any:
    """The history entries whose actor is exactly `who`."""
    return page.locator(".timeline-item").filter(
        has=page.locator(".timeline-who", has_text=re.compile(f"^\\s*{re.escape(who)}\\s*$"))
    )


def test_clerk_delivers_resident_opens_downloads_and_both_see_the_dossier(
    new_page, demo, runtime, shot
):
    letter = make_pdf("Verfügung Baubewilligung")
    resident_name = demo["resident"]["name"]

    # The clerk logs in and finds "New delivery" on the workbench.
    clerk = new_page()
    clerk.goto("/login")
    shot(clerk, "login")
    log_in(clerk, demo["clerk"])
    expect(clerk).to_have_url(re.compile(r"/office/$"))
    clerk.locator("main .page-header a[href$='/office/deliver']").click()

    # Search the resident by name and choose her: the form takes her AHVN13.
    clerk.locator("#field-q").fill("Muster")
    clerk.locator("#field-q").press("Enter")
    expect(clerk).to_have_url(re.compile(r"\?q=Muster"))
    match = clerk.locator("form[role=search] ~ ul > li").filter(has_text=resident_name)
    expect(match).to_have_count(1)
    match.locator("a[href*='recipient=']").click()
    expect(clerk.locator("#field-recipient")).to_have_value(demo["resident"]["ahvn13"])

    clerk.locator("#field-kind").select_option("decision")
    clerk.locator("#field-subject").fill(SUBJECT)
    clerk.locator("#field-body").fill(BODY)
    clerk.locator("#field-files").set_input_files(
        files=[{"name": "verfuegung.pdf", "mimeType": "application/pdf", "buffer": letter}]
    )
    clerk.locator("#field-body").blur()  # no focus ring in the documentation's picture
    shot(clerk, "deliver")
    clerk.locator(f"{UPLOAD_FORM} {SUBMIT}").click()

    # Delivered: the clerk lands on the new dossier.
    expect(clerk).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    case_url = clerk.url
    expect(clerk.locator(".flash-success")).to_contain_text(resident_name)
    expect(clerk.locator("main h1")).to_have_text(SUBJECT)
    expect(clerk.locator("section[aria-labelledby=documents-title]")).to_contain_text(
        "verfuegung.pdf"
    )
    # The history says it went to her mailbox; nothing was done by her yet.
    expect(clerk.locator(".timeline-item").filter(has_text=resident_name)).to_have_count(1)
    expect(timeline_entry_by(clerk, resident_name)).to_have_count(0)

    # The resident, in her own browser context, finds the message unread in her inbox.
    resident = new_page()
    log_in(resident, demo["resident"])
    expect(resident).to_have_url(re.compile(r"/(inbox)?$"))
    row = resident.locator("main tbody tr").filter(has_text=SUBJECT)
    expect(row).to_have_count(1)
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(row.locator(".badge-available")).to_be_visible()
    expect(row).to_contain_text(demo["clerk"]["authority"])
    shot(resident, "inbox")
    row.locator("a[href^='/messages/']").click()

    # Before opening: the warning, the button, and no document to download yet.
    expect(resident.locator("main h1")).to_have_text(SUBJECT)
    warning = resident.locator("section.notice-warning")
    expect(warning).to_be_visible()
    expect(warning.locator("h2")).not_to_be_empty()
    expect(resident.locator("a[href^='/documents/']")).to_have_count(0)
    shot(resident, "message-before-opening")
    warning.locator(f"form[action$='/open'] {SUBMIT}").click()

    # Opened: the document is handed out, byte for byte what the clerk uploaded.
    expect(warning).to_have_count(0)
    expect(resident.locator("main .page-header .badge-opened")).to_be_visible()
    expect(resident.locator("main .card").filter(has_text=BODY)).to_be_visible()
    document = resident.locator("main a[href^='/documents/']")
    expect(document).to_have_text("verfuegung.pdf")
    shot(resident, "message")
    with resident.expect_download() as download_info:
        document.click()
    download = download_info.value
    assert download.suggested_filename == "verfuegung.pdf"
    assert Path(download.path()).read_bytes() == letter

    # The dossier's history records the opening by her. In the services profile the sealed
    # receipt is filed by the worker a moment later; wait for it so both see the whole story.
    def receipt_filed() -> bool:
        with runtime.sessions() as session:
            return session.scalars(select(Delivery.receipt_document_id)).one() is not None

    wait_for(receipt_filed)
    resident.locator("main a[href^='/cases/']").click()
    expect(resident).to_have_url(case_url)
    expect(resident.locator("main h1")).to_have_text(SUBJECT)
    expect(timeline_entry_by(resident, resident_name)).to_have_count(1)
    shot(resident, "dossier")

    # The clerk sees the same history, and the status on the workbench.
    clerk.reload()
    expect(timeline_entry_by(clerk, resident_name)).to_have_count(1)
    assert clerk.locator(".timeline-item").count() == resident.locator(".timeline-item").count()
    clerk.locator(".site-nav a[href$='/office/']").click()
    delivered = clerk.locator("main tbody tr").filter(has_text=SUBJECT)
    expect(delivered.locator(".badge-opened")).to_be_visible()
    expect(delivered).to_contain_text(resident_name)
    shot(clerk, "workbench")


def test_keyboard_only_login_and_skip_link(new_page, demo):
    page = new_page()
    page.goto("/login")
    # No autofocus (it would make screen readers skip the page's start): Tab to the field.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "field-login":
            break
    expect(page.locator("#field-login")).to_be_focused()
    page.keyboard.type(demo["clerk"]["login"])
    page.keyboard.press("Tab")
    expect(page.locator("#field-password")).to_be_focused()
    page.keyboard.type(demo["clerk"]["password"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/office/$"))

    # From the top of a page, the first Tab reaches the skip link, and it shows itself.
    skip = page.locator("a.skip-link")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_have_attribute("href", "#main")
    expect(skip).to_be_in_viewport()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] > 0

    # Following it moves the keyboard into main: the next Tab skips header and navigation.
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    page.keyboard.press("Tab")
    focused_in_main = page.evaluate(
        "() => document.activeElement !== document.body"
        " && document.getElementById('main').contains(document.activeElement)"
    )
    assert focused_in_main, page.evaluate("document.activeElement.outerHTML")
    expect(page.locator("main a[href$='/office/deliver']")).to_be_focused()

    # ... and the first thing there, "New delivery", works with Enter.
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/office/deliver$"))


def test_phone_screen_has_no_horizontal_scrolling(new_page, demo, runtime, shot):
    case_id = deliver_directly(runtime, demo, SUBJECT)
    page = new_page(viewport=PHONE)
    log_in(page, demo["resident"])

    def assert_fits() -> None:
        # Measured once the stylesheet has been applied: the DOM can be there before it is.
        page.wait_for_load_state("load")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[1] == PHONE["width"]
        assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"

    expect(page.locator("main tbody tr").filter(has_text=SUBJECT)).to_have_count(1)
    assert_fits()
    shot(page, "inbox-phone")

    page.locator("main a[href^='/messages/']").click()
    expect(page.locator("section.notice-warning")).to_be_visible()
    assert_fits()

    page.goto(f"/cases/{case_id}")
    expect(page.locator("main h1")).to_have_text(SUBJECT)
    expect(page.locator(".timeline-item").first).to_be_visible()
    assert_fits()


def test_text_file_named_pdf_is_refused_next_to_the_field(new_page, demo, runtime):
    page = new_page()
    log_in(page, demo["clerk"])
    page.goto(f"/office/deliver?recipient={demo['resident']['ahvn13']}")
    page.locator("#field-subject").fill(SUBJECT)
    page.locator("#field-files").set_input_files(
        files=[
            {
                "name": "verfuegung.pdf",
                "mimeType": "application/pdf",
                "buffer": b"Dies ist kein PDF, nur Text.\n",
            }
        ]
    )
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator(f"{UPLOAD_FORM} {SUBMIT}").click()
    assert answer.value.status == 422

    # The message sits in the file field's own box, tied to the control for screen readers.
    files = page.locator("#field-files")
    field = page.locator(".field", has=files)
    expect(field).to_have_class(re.compile(r"\bfield-invalid\b"))
    error = field.locator("#field-files-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("verfuegung.pdf")
    expect(files).to_have_attribute("aria-invalid", "true")
    expect(files).to_have_attribute("aria-describedby", re.compile(r"\bfield-files-error\b"))
    # The summary above the form links to the field; what was typed is kept.
    expect(page.locator(".error-summary a[href='#field-files']")).to_contain_text("verfuegung.pdf")
    expect(page.locator("#field-subject")).to_have_value(SUBJECT)
    expect(page.locator("#field-recipient")).to_have_value(demo["resident"]["ahvn13"])

    # Nothing was created: no case file, no delivery, and the list says so.
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseFile)) == 0
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    page.locator(".site-nav a[href$='/cases']").click()
    expect(page.locator("main .empty-state")).to_be_visible()
    expect(page.locator("main table")).to_have_count(0)
