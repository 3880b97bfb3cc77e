"""E-mail to an account's owner after repeated failed logins with their login name.

The throttle (`directory.throttle`) decides that a warning is due and marks its row; the app's
login view then enqueues `mailbox.jobs.warn_of_failed_logins` by name. The job lives here, not in
`directory`, because e-mail is sent from the mailbox package (SMTP relay, outbox log) and
`directory` must not import `mailbox`: the arrows point down.

Once per series: the job locks the row and sets `warned_at` in the transaction that sends, so a
second run waits and then finds it done (as with delivery notices; a crash between the relay's
acceptance and the commit sends again, with the same Message-ID).
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import Account, LoginFailures
from mailbox.notifications import PORTAL_NAME, ZURICH, MailSettings, mail_settings, send_mail
from storage.db import utcnow

log = logging.getLogger(__name__)

WARNING_WINDOW = dt.timedelta(days=1)  # recovery sends a lost warning this long, not later


def send_login_warning(session: Session, login_hash: str) -> None:
    """Tell the owner of the login that someone keeps failing to log in; once per series."""
    row = session.get(LoginFailures, login_hash, with_for_update=True)
    if row is None or row.warn_due_at is None or row.warned_at is not None:
        return
    account = session.get(Account, row.account_id) if row.account_id else None
    address = owner_address(account) if account else None
    settings = mail_settings(session)
    if account is not None and address:
        message = compose_login_warning(account, address, row, settings)
        smtp_url = settings.smtp_url
        if smtp_url:
            send_mail(smtp_url, message)  # errors propagate: rq retries, recovery finds it
        else:
            log.info(
                "login warning (no SMTP configured) to %s:\n%s", address, message.get_content()
            )
    row.warned_at = utcnow()
    session.flush()


def owner_address(account: Account) -> str | None:
    """Where the owner reads mail: the person's address, or a staff login that is one."""
    if account.party is not None and account.party.email:
        return account.party.email
    return account.login if "@" in account.login else None


def lost_warnings(
    session: Session, now: dt.datetime | None = None
) -> list[tuple[str, tuple[str, ...]]]:
    """Warnings that are due but were never sent (a lost or failed job), from the last day."""
    since = (now or utcnow()) - WARNING_WINDOW
    hashes = session.scalars(
        select(LoginFailures.login_hash).where(
            LoginFailures.warn_due_at > since,
            LoginFailures.warned_at.is_(None),
            LoginFailures.account_id.is_not(None),
        )
    )
    return [("mailbox.jobs.warn_of_failed_logins", (h,)) for h in hashes]


def compose_login_warning(
    account: Account, address: str, row: LoginFailures, settings: MailSettings
) -> EmailMessage:
    """The German plain-text warning: how many failures, since the account is not locked."""
    mail_from = settings.mail_from or f"{PORTAL_NAME} <no-reply@portal.lu.ch>"
    base_url = settings.base_url.rstrip("/")
    last = row.last_failure_at.astimezone(ZURICH).strftime("%d.%m.%Y %H:%M")
    lines = [
        f"Guten Tag {account.display_name}",
        "",
        f"Mit Ihrem Login im {PORTAL_NAME} wurde wiederholt versucht, sich mit einem falschen "
        f"Passwort anzumelden: {row.failures} Mal, zuletzt am {last} Uhr.",
        "",
        "Ihr Konto ist nicht gesperrt. Weitere Versuche werden verlangsamt; auf einem Gerät, "
        "mit dem Sie sich schon angemeldet haben, melden Sie sich weiterhin sofort an.",
        "",
        "Waren das nicht Sie, wählen Sie bitte ein neues Passwort. Nach der Anmeldung:",
        f"{base_url}/account/password",
        "",
        "Waren Sie es selbst, müssen Sie nichts tun.",
        "",
        "Freundliche Grüsse",
        PORTAL_NAME,
        "",
        "Diese E-Mail wurde automatisch versandt. Antworten auf diese Adresse werden "
        "nicht gelesen.",
    ]
    message = EmailMessage()
    message["Subject"] = f"Fehlgeschlagene Anmeldeversuche im {PORTAL_NAME}"
    message["From"] = mail_from
    message["To"] = formataddr((account.display_name, address))
    message["Date"] = format_datetime(utcnow())
    assert row.warn_due_at is not None  # only a due warning is composed
    series = int(row.warn_due_at.timestamp())
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "portal.lu.ch"
    # Stable per series: a warning sent again after a crash is recognisably the same one.
    message["Message-ID"] = f"<login-{row.login_hash[:24]}-{series}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n".join(lines) + "\n")
    return message
