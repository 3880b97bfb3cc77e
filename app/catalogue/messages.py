"""The form engine's error codes (catalogue/forms.py) as sentences in the user's language."""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from flask_babel import format_date, lazy_gettext
from flask_babel.speaklater import LazyString

from catalogue.forms import FieldError

MESSAGES: Mapping[str, LazyString] = {
    "required": lazy_gettext("Please fill in this field."),
    "one_value": lazy_gettext("Please give one value only."),
    "too_long": lazy_gettext("Please write at most %(max)s characters."),
    "bad_characters": lazy_gettext("This field contains characters that are not allowed."),
    "pattern": lazy_gettext("This value does not have the expected form."),
    "not_a_number": lazy_gettext("Please enter a number, for example 12 or 12.50."),
    "not_whole": lazy_gettext("Please enter a whole number, for example 2025."),
    "too_many_decimals": lazy_gettext(
        "Please enter a number with at most %(decimals)s decimal places."
    ),
    "below_min": lazy_gettext("The value must be at least %(min)s."),
    "above_max": lazy_gettext("The value must be at most %(max)s."),
    "not_a_date": lazy_gettext("Please enter a date such as 31.12.2026."),
    "unknown_choice": lazy_gettext("Please choose one of the offered answers."),
    "bad_ahvn13": lazy_gettext("This is not a valid AHV number (756.xxxx.xxxx.xx)."),
    "unknown_commune": lazy_gettext("Please choose a commune from the list."),
    "incomplete_address": lazy_gettext("Please give street and number, postcode and town."),
    "bad_postcode": lazy_gettext("Please enter a valid postcode."),
    "bad_email": lazy_gettext("Please enter an e-mail address such as name@example.ch."),
    "file_type": lazy_gettext("Please upload a file of this type: %(kinds)s."),
    "file_too_big": lazy_gettext("The file is larger than %(max_mb)s MB."),
    "file_empty": lazy_gettext("The file is empty."),
}
FALLBACK = lazy_gettext("This value cannot be accepted.")


def message(error: FieldError) -> str:
    """The sentence for one field error, in the current locale."""
    params: dict[str, str | int] = {}
    for key, value in error.params.items():
        params[key] = _date_or_text(value)
    template = MESSAGES.get(error.code, FALLBACK)
    return str(template) % params if params else str(template)


def messages(errors: Mapping[str, FieldError]) -> dict[str, str]:
    """Every field's error sentence by field name (for a form shown again)."""
    return {name: message(error) for name, error in errors.items()}


def _date_or_text(value: str | int) -> str | int:
    # Date bounds come as ISO text; people read them in their locale's format.
    if isinstance(value, str) and len(value) == 10 and value[4:5] == "-":
        try:
            return format_date(datetime.date.fromisoformat(value), "medium")
        except ValueError:
            return value
    return value
