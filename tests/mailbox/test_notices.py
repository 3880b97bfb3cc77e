"""E-mail notices from the user's side: a clerk delivers through the office form, the resident's
notice is read from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import smtplib
import threading
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from directory.models import Party
from mailbox.jobs import lost_jobs
from mailbox.models import Delivery
from mailbox.notifications import send_mail
from storage.db import utcnow
from tests.conftest import csrf_token, login, wait_for
from tests.mailbox.conftest import (
    BODY,
    FILENAME,
    SUBJECT,
    Portal,
    deliver_letter,
    in_process_portal,
    portal_on,
    the_delivery,
)
from tests.support import services
from tests.support.smtp import SmtpServer, start_smtp_server


def notice_jobs(runtime: Any) -> list[tuple[str, tuple[str, ...]]]:
    with runtime.sessions() as session:
        return [job for job in lost_jobs(session) if job[0] == "mailbox.jobs.send_notice"]


def test_notice_names_sender_deadline_and_link_never_the_content(
    mail_portal: Portal, smtp: SmtpServer, demo: dict[str, Any], pdf: Any
) -> None:
    clerk = mail_portal.client()
    login(clerk, demo["clerk"])
    deliver_letter(clerk, demo["resident"]["ahvn13"], pdf("Verfügung Gartenhaus"))

    [notice] = wait_for(lambda: smtp.messages)
    delivery = the_delivery(mail_portal.runtime)
    anna = demo["resident"]["login"]  # the demo residents log in with their e-mail address
    assert smtp.received[0].rcpt_tos == [anna]
    assert notice["To"].addresses[0].addr_spec == anna
    assert notice["From"] == mail_portal.runtime.config.mail_from
    assert notice["Message-ID"] == f"<delivery-{delivery.id}@portal.lu.ch>"
    assert not notice.is_multipart()
    assert notice.get_content_type() == "text/plain"

    text = notice.get_content()
    assert "Stadt Luzern, Einwohnerdienste" in text
    assert "Einwohnerportal" in text
    assert delivery.deemed_due_at is not None
    due = delivery.deemed_due_at.astimezone(ZoneInfo("Europe/Zurich"))
    assert due.strftime("%d.%m.%Y %H:%M") in text
    base_url = mail_portal.runtime.config.base_url
    link = f"{base_url}/messages/{delivery.id}"
    assert link in text.split()

    # What the decision says stays in the portal: not in the text, headers or raw bytes.
    raw = notice.as_bytes()
    for secret in (SUBJECT, "Gartenhaus", BODY, "Rechtsmittelbelehrung", FILENAME, "%PDF"):
        assert secret not in text
        assert secret.encode() not in raw
    assert "Gartenhaus" not in notice["Subject"]

    assert delivery.notice_sent_at is not None
    assert notice_jobs(mail_portal.runtime) == []

    # The link leads the resident (after logging in) to that message.
    resident = mail_portal.client()
    login(resident, demo["resident"])
    page = resident.get(link.removeprefix(base_url))
    assert page.status_code == 200
    assert SUBJECT in page.get_data(as_text=True)


def test_running_the_notice_job_again_sends_nothing_more(
    mail_portal: Portal, smtp: SmtpServer, demo: dict[str, Any], pdf: Any
) -> None:
    clerk = mail_portal.client()
    login(clerk, demo["clerk"])
    deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    wait_for(lambda: smtp.messages)
    delivery_id = str(the_delivery(mail_portal.runtime).id)

    mail_portal.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
    mail_portal.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
    mail_portal.runtime.recover()
    assert len(smtp.messages) == 1


def test_concurrent_retries_send_one_notice(
    runtime: Any, smtp: SmtpServer, demo: dict[str, Any], pdf: Any
) -> None:
    # The first attempt fails (no server), so the notice is due when the retries race.
    with in_process_portal(runtime, smtp_url=f"smtp://127.0.0.1:{services.free_port()}") as down:
        clerk = down.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    delivery_id = str(the_delivery(runtime).id)
    assert smtp.messages == []

    with in_process_portal(runtime, smtp_url=smtp.url) as portal:
        errors: list[BaseException] = []

        def retry() -> None:
            try:
                portal.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
            except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
                errors.append(exc)

        threads = [threading.Thread(target=retry) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert len(smtp.messages) == 1


def test_a_recipient_without_email_gets_no_notice(
    mail_portal: Portal, smtp: SmtpServer, demo: dict[str, Any], pdf: Any, runtime: Any
) -> None:
    with runtime.transaction() as session:
        beat = session.scalars(
            select(Party).where(Party.ahvn13 == demo["other_resident"]["ahvn13"])
        ).one()
        beat.email = None
    clerk = mail_portal.client()
    login(clerk, demo["clerk"])
    deliver_letter(clerk, demo["other_resident"]["ahvn13"], pdf())
    delivery_id = str(the_delivery(runtime).id)

    mail_portal.runtime.run_job("mailbox.jobs.send_notice", delivery_id)  # a stray job, say
    assert smtp.messages == []
    assert the_delivery(runtime).notice_sent_at is None
    assert notice_jobs(runtime) == []


def test_smtp_down_the_job_fails_and_recovery_sends_it_later(
    runtime: Any,
    smtp: SmtpServer,
    demo: dict[str, Any],
    pdf: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = f"smtp://relay-user:Geheim-42@127.0.0.1:{services.free_port()}"
    with in_process_portal(runtime, smtp_url=dead) as down:
        clerk = down.client()
        login(clerk, demo["clerk"])
        # The notice fails after the commit: the delivery itself stands.
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
        delivery_id = str(the_delivery(runtime).id)
        assert "mailbox.jobs.send_notice failed" in caplog.text
        with pytest.raises(OSError):  # what rq sees, and retries with backoff
            down.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
    assert "Geheim-42" not in caplog.text
    assert the_delivery(runtime).notice_sent_at is None
    assert notice_jobs(runtime) == [("mailbox.jobs.send_notice", (delivery_id,))]

    with in_process_portal(runtime, smtp_url=smtp.url) as up:
        assert up.runtime.recover() >= 1
    [notice] = smtp.messages
    assert notice["Message-ID"] == f"<delivery-{delivery_id}@portal.lu.ch>"
    assert the_delivery(runtime).notice_sent_at is not None
    assert notice_jobs(runtime) == []


def test_a_withdrawn_delivery_is_not_announced_afterwards(
    runtime: Any, smtp: SmtpServer, demo: dict[str, Any], pdf: Any
) -> None:
    with in_process_portal(runtime, smtp_url=f"smtp://127.0.0.1:{services.free_port()}") as down:
        clerk = down.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
        delivery_id = str(the_delivery(runtime).id)
        token = csrf_token(clerk.get("/office/").get_data(as_text=True))
        withdrawn = clerk.post(
            f"/office/deliveries/{delivery_id}/withdraw", data={"csrf_token": token}
        )
        assert withdrawn.status_code == 302
    assert notice_jobs(runtime) == []
    with in_process_portal(runtime, smtp_url=smtp.url) as up:
        up.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
    assert smtp.messages == []


def test_no_notice_once_the_pick_up_time_has_passed(
    runtime: Any, smtp: SmtpServer, demo: dict[str, Any], pdf: Any
) -> None:
    with in_process_portal(runtime, smtp_url=f"smtp://127.0.0.1:{services.free_port()}") as down:
        clerk = down.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    delivery_id = the_delivery(runtime).id
    with runtime.transaction() as session:
        # Moved back as if the relay had been down all week and the sweep had not run yet.
        delivery = session.get_one(Delivery, delivery_id)
        delivery.deemed_due_at = utcnow() - dt.timedelta(minutes=1)
    assert notice_jobs(runtime) == []
    with in_process_portal(runtime, smtp_url=smtp.url) as up:
        up.runtime.run_job("mailbox.jobs.send_notice", str(delivery_id))
    assert smtp.messages == []


def test_relay_login_from_the_url(
    runtime: Any, demo: dict[str, Any], pdf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    password = "p@ss:w%rt/1"  # needs percent-encoding in the URL (smtplib takes ASCII only)
    relay = start_smtp_server(credentials=("portal", password))
    try:
        wrong = f"smtp://portal:falsch@127.0.0.1:{relay.port}"
        with in_process_portal(runtime, smtp_url=wrong) as portal:
            clerk = portal.client()
            login(clerk, demo["clerk"])
            deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
            delivery_id = str(the_delivery(runtime).id)
            with pytest.raises(smtplib.SMTPAuthenticationError):
                portal.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
        assert relay.received == []

        right = f"smtp://portal:{quote(password, safe='')}@127.0.0.1:{relay.port}"
        with in_process_portal(runtime, smtp_url=right) as portal:
            portal.runtime.run_job("mailbox.jobs.send_notice", delivery_id)
        [received] = relay.received
        assert received.login == "portal"
        assert received.rcpt_tos == [demo["resident"]["login"]]
    finally:
        relay.stop()
    assert password not in caplog.text


def test_without_smtp_the_notice_goes_to_the_log(
    runtime: Any, demo: dict[str, Any], pdf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbox.notifications")
    with in_process_portal(runtime, smtp_url=None) as portal:
        clerk = portal.client()
        login(clerk, demo["clerk"])
        deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    delivery = the_delivery(runtime)
    [record] = [r for r in caplog.records if r.name == "mailbox.notifications"]
    assert record.levelno == logging.INFO
    logged = record.getMessage()
    assert f"/messages/{delivery.id}" in logged
    assert "Stadt Luzern, Einwohnerdienste" in logged
    assert SUBJECT not in logged and BODY not in logged
    assert delivery.notice_sent_at is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://relay.example.ch:25",
        "smtp://",
        # A password over a network in clear: refused, and the message must not echo it.
        "smtp://user:Geheim-42@relay.example.ch:587",
    ],
)
def test_unusable_smtp_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ValueError) as info:
        send_mail(url, EmailMessage())
    assert "Geheim-42" not in str(info.value)


def test_a_worker_process_sends_the_notice_and_retries_while_smtp_is_down(
    runtime: Any, demo: dict[str, Any], pdf: Any, tmp_path: Any
) -> None:
    """The services path: rq, a `portal worker` process with PORTAL_SMTP_URL, rq's Retry."""
    if runtime.queue is None:
        pytest.skip("jobs run in-process in the embedded profile (covered above)")
    port = services.free_port()
    config = dataclasses.replace(
        runtime.config,
        smtp_url=f"smtp://127.0.0.1:{port}",
        # A queue of its own: the suite's worker (which has no SMTP URL) must not take the job.
        queue_name=f"portal-notices-{tmp_path.name}",
    )
    worker = services.start_worker(config.as_env(), tmp_path, tmp_path / "worker.log")
    relay: SmtpServer | None = None
    try:
        with portal_on(config) as portal:
            clerk = portal.client()
            login(clerk, demo["clerk"])
            deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
            delivery_id = str(the_delivery(runtime).id)
            # The first attempt finds no server and is scheduled again by rq's Retry.
            log = tmp_path / "worker.log"
            wait_for(lambda: "ConnectionRefusedError" in log.read_text(), timeout=30)
            assert the_delivery(runtime).notice_sent_at is None
            relay = start_smtp_server(port=port)
            [notice] = wait_for(lambda: relay.messages if relay else None, timeout=60)
        assert notice["Message-ID"] == f"<delivery-{delivery_id}@portal.lu.ch>"
        wait_for(lambda: the_delivery(runtime).notice_sent_at is not None)
    finally:
        worker.terminate()
        worker.wait(10)
        if relay is not None:
            relay.stop()
