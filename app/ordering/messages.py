"""The words of the order form beyond the form engine's (app/catalogue/messages.py): the
statuses of steps, and the refusal of several files in a one-file field."""

from __future__ import annotations

from flask_babel import lazy_gettext

TOO_MANY_FILES = lazy_gettext("Please attach only one file here.")

STEP_STATUS = {
    "waiting": lazy_gettext("Waiting"),
    "open": lazy_gettext("Received"),
    "claimed": lazy_gettext("In progress"),
    "needs_information": lazy_gettext("Information needed"),
    "done": lazy_gettext("Done"),
    "decided": lazy_gettext("Decided"),
    "forwarded": lazy_gettext("Forwarded"),
    "rejected": lazy_gettext("Rejected"),
    "skipped": lazy_gettext("Not needed"),
}
