"""E-mail notices that a delivery is waiting: never its content or subject.

A notice says who sent something, that it waits in the Einwohnerportal, until when it can be picked
up before it counts as delivered, and where. The subject line, the text and the documents stay in
the portal: an e-mail travels and is stored in clear, a decision must not.

"Never twice" here means: the job locks the delivery row and sets `notice_sent_at` in the same
transaction, so a second run (an rq retry, a job found again by recovery, a duplicate enqueue) waits
for the first and then finds it done. The one gap is a process that dies after the SMTP server
accepted the mail but before the commit: the retry sends again. That is at-least-once delivery,
and every notice for a delivery carries the same Message-ID (`<delivery-{id}@…>`), which lets mail
servers and clients drop the duplicate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import Party
from mailbox.models import Delivery, DeliveryStatus
from storage.db import utcnow
from storage.work import services_of

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 10  # seconds, per connect and per command
NOTICE_WINDOW_DAYS = 7  # recovery resends notices this long; later ones would be news of the past
ZURICH = ZoneInfo("Europe/Zurich")
PORTAL_NAME = "Einwohnerportal Luzern"


@runtime_checkable
class MailSettings(Protocol):
    """What notices read of the portal's configuration (`app.config.Config` has it)."""

    @property
    def base_url(self) -> str: ...  # the portal's address, for the links in a notice

    @property
    def smtp_url(self) -> str | None: ...  # None: no mail relay, the log is the outbox

    @property
    def mail_from(self) -> str: ...


def mail_settings(session: Session) -> MailSettings:
    """The mail settings that the session's runtime services carry."""
    settings = services_of(session).settings
    if not isinstance(settings, MailSettings):
        raise TypeError(f"the session carries {type(settings).__name__}, not MailSettings")
    return settings


def send_delivery_notice(session: Session, delivery_id: uuid.UUID) -> None:
    """Tell the recipient by e-mail that a delivery waits; at most once per delivery."""
    # The row lock makes a concurrent second run wait, then find notice_sent_at set.
    delivery = session.get(Delivery, delivery_id, with_for_update={"key_share": True})
    if delivery is None or delivery.notice_sent_at is not None:
        return
    if delivery.status != DeliveryStatus.AVAILABLE or not delivery.recipient.email:
        return  # opened, withdrawn or deemed already, or nobody to write to
    if delivery.deemed_due_at is not None and delivery.deemed_due_at <= utcnow():
        return  # past its pick-up time (the sweep has not caught up): a notice would mislead
    settings = mail_settings(session)
    notice = compose_notice(delivery, settings)
    smtp_url = settings.smtp_url
    if smtp_url:
        # Errors propagate: rq retries the job with backoff, the in-process runner logs it and
        # recovery (`pending_notices`) finds the delivery again.
        send_mail(smtp_url, notice)
    else:
        # Embedded mode has no mail relay: the log is the outbox.
        log.info(
            "delivery notice (no SMTP configured) %s to %s:\n%s",
            notice["Message-ID"],
            notice["To"],
            notice.get_content(),
        )
    delivery.notice_sent_at = utcnow()
    session.flush()


def pending_notices(session: Session, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Deliveries still waiting whose notice was never sent (a lost or failed job)."""
    now = now or utcnow()
    since = now - dt.timedelta(days=NOTICE_WINDOW_DAYS)
    return list(
        session.scalars(
            select(Delivery.id)
            .join(Party, Party.id == Delivery.recipient_party_id)
            .where(
                Delivery.status == DeliveryStatus.AVAILABLE,
                Delivery.notice_sent_at.is_(None),
                Delivery.available_at >= since,
                Delivery.deemed_due_at > now,
                Party.email.is_not(None),
                Party.email != "",
            )
        )
    )


def compose_notice(delivery: Delivery, settings: MailSettings) -> EmailMessage:
    """The German plain-text notice for a delivery: sender, pick-up deadline, link."""
    mail_from = settings.mail_from or f"{PORTAL_NAME} <no-reply@portal.lu.ch>"
    base_url = settings.base_url.rstrip("/")
    recipient = delivery.recipient
    authority = delivery.message.authority.name
    link = f"{base_url}/messages/{delivery.id}"

    lines = [
        f"Guten Tag {recipient.display_name}",
        "",
        f"{authority} hat Ihnen ein Dokument zugestellt. Es liegt in Ihrem Postfach im "
        f"{PORTAL_NAME} für Sie bereit.",
        "",
    ]
    if delivery.deemed_due_at is not None:
        due = delivery.deemed_due_at.astimezone(ZURICH).strftime("%d.%m.%Y %H:%M")
        lines += [
            f"Bitte holen Sie es bis am {due} Uhr ab. Haben Sie es bis dahin nicht geöffnet, "
            "gilt es ab diesem Zeitpunkt als zugestellt, und allfällige Fristen beginnen "
            "zu laufen.",
            "",
        ]
    lines += [
        "Zum Dokument (Anmeldung erforderlich):",
        link,
        "",
        "Aus Gründen des Datenschutzes enthält diese E-Mail weder den Betreff noch den Inhalt "
        "des Dokuments.",
        "",
        "Freundliche Grüsse",
        PORTAL_NAME,
        "",
        "Diese E-Mail wurde automatisch versandt. Antworten auf diese Adresse werden "
        "nicht gelesen.",
    ]

    message = EmailMessage()
    message["Subject"] = f"Neue Zustellung im {PORTAL_NAME}"
    message["From"] = mail_from
    message["To"] = formataddr((recipient.display_name, recipient.email or ""))
    message["Date"] = format_datetime(utcnow())
    # Stable per delivery: a notice sent again after a crash is recognisably the same one.
    message["Message-ID"] = f"<delivery-{delivery.id}@{_mail_domain(mail_from)}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content("\n".join(lines) + "\n")
    return message


def _mail_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "portal.lu.ch"


def send_mail(smtp_url: str, message: EmailMessage) -> None:
    """Hand one message to the relay that `smtp_url` names; SMTP and socket errors raise.

    smtp://[user:pass@]host[:port] (add ?starttls=true to upgrade), or smtps:// for implicit TLS.
    """
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        # Not the URL itself in the message: it may carry the relay's password.
        raise ValueError("PORTAL_SMTP_URL must look like smtp://host:port or smtps://host:port")
    implicit_tls = parts.scheme == "smtps"
    starttls = parse_qs(parts.query).get("starttls", ["false"])[-1].lower() in ("1", "true", "yes")
    port = parts.port or (465 if implicit_tls else 25)
    if parts.username and not (implicit_tls or starttls or _is_loopback(parts.hostname)):
        raise ValueError("PORTAL_SMTP_URL has credentials but no TLS; add ?starttls=true")
    # A TLS context only where TLS is spoken: loading the CA store costs ~40 ms, four fifths of
    # a plain notice's time (the fault suite saw a mass mailing's notices go at ~18/s).
    smtp: smtplib.SMTP
    if implicit_tls:
        context = ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(parts.hostname, port, timeout=SMTP_TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(parts.hostname, port, timeout=SMTP_TIMEOUT)
    with smtp:
        if starttls:
            smtp.starttls(context=ssl.create_default_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


def _is_loopback(host: str) -> bool:
    # A relay on this machine may take a password in clear: nothing crosses a network.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
