"""Swiss person and enterprise identifiers: the AHV number (AHVN13) and the UID (CHE-…).

Pure functions without project imports, so that forms, the API, the demo data and the tests all
check numbers the same way. A rejected number raises ``ValueError`` whose message is one of the
constant English sentences below; they are marked with ``N_`` so that ``pybabel extract`` collects
them and the UI can show ``gettext(str(exc))`` in the resident's language. The messages carry no
interpolated values on purpose: a fixed sentence is what a catalogue can translate.
"""

from __future__ import annotations

import re


# `N_` is among the keywords `pybabel extract` looks for by default.
def N_(message: str) -> str:
    """Mark a message for translation without translating it here."""
    return message


AHVN13_EMPTY = N_("Enter an AHV number.")
AHVN13_CHARACTERS = N_("An AHV number may only contain digits, dots and spaces.")
AHVN13_LENGTH = N_("An AHV number has 13 digits, for example 756.1234.5678.97.")
AHVN13_PREFIX = N_("A Swiss AHV number starts with 756.")
AHVN13_CHECK_DIGIT = N_("This AHV number is not valid. Please check it for typing errors.")

UID_EMPTY = N_("Enter a UID.")
UID_PREFIX = N_("A UID starts with CHE, for example CHE-123.456.788.")
UID_CHARACTERS = N_("A UID may only contain CHE, digits, dots, hyphens and spaces.")
UID_LENGTH = N_("A UID has 9 digits after CHE, for example CHE-123.456.788.")
UID_CHECK_DIGIT = N_("This UID is not valid. Please check it for typing errors.")

_AHVN13_PREFIX = "756"
# Separators people type or copy from a card or letter; \s also covers the no-break space.
_AHVN13_SEPARATORS = re.compile(r"[.\s]")
_UID_SEPARATORS = re.compile(r"[.\-\s]")
# The commercial register and the VAT register print the UID with a suffix.
_UID_SUFFIX = re.compile(r"\s+(?:MWST|TVA|IVA|HR)$")
# Only ASCII digits: str.isdigit() would also accept other scripts' digits and superscripts.
_DIGITS = re.compile(r"[0-9]+")
_UID_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4)


def _ean13_check_digit(digits12: str) -> int:
    """Return the EAN-13 check digit of twelve digits (weights 1, 3, 1, 3, … from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits12))
    return (10 - total % 10) % 10


def _uid_check_digit(digits8: str) -> int | None:
    """Return the UID check digit of eight digits (mod 11), or None where it would be 10."""
    remainder = sum(int(d) * w for d, w in zip(digits8, _UID_WEIGHTS, strict=True)) % 11
    check = (11 - remainder) % 11
    # A body whose check would be 10 is never issued, so a number with such a body is invalid.
    return None if check == 10 else check


def _format_ahvn13(digits: str) -> str:
    return f"{digits[0:3]}.{digits[3:7]}.{digits[7:11]}.{digits[11:13]}"


def _format_uid(digits: str) -> str:
    return f"CHE-{digits[0:3]}.{digits[3:6]}.{digits[6:9]}"


def normalize_ahvn13(text: str) -> str:
    """Return an AHV number in its dotted form ``756.1234.5678.97`` or raise ValueError."""
    digits = _AHVN13_SEPARATORS.sub("", text)
    if not digits:
        raise ValueError(AHVN13_EMPTY)
    if not _DIGITS.fullmatch(digits):
        raise ValueError(AHVN13_CHARACTERS)
    if len(digits) != 13:
        raise ValueError(AHVN13_LENGTH)
    if not digits.startswith(_AHVN13_PREFIX):
        raise ValueError(AHVN13_PREFIX)
    if _ean13_check_digit(digits[:12]) != int(digits[12]):
        raise ValueError(AHVN13_CHECK_DIGIT)
    return _format_ahvn13(digits)


def is_valid_ahvn13(text: str) -> bool:
    """Tell whether text is a valid AHV number, written with or without separators."""
    try:
        normalize_ahvn13(text)
    except ValueError:
        return False
    return True


def make_ahvn13(body: int) -> str:
    """Build a valid AHV number from a 9-digit body (0 to 999 999 999), for demo data and tests."""
    if isinstance(body, bool) or not isinstance(body, int):
        raise TypeError("the body of an AHV number is an int")
    if not 0 <= body <= 999_999_999:
        raise ValueError("the body of an AHV number has at most 9 digits and is not negative")
    digits12 = f"{_AHVN13_PREFIX}{body:09d}"
    return _format_ahvn13(f"{digits12}{_ean13_check_digit(digits12)}")


def normalize_uid(text: str) -> str:
    """Return a UID in its form ``CHE-123.456.788`` (without suffix) or raise ValueError."""
    value = _UID_SUFFIX.sub("", text.strip().upper())
    if not value:
        raise ValueError(UID_EMPTY)
    if not value.startswith("CHE"):
        raise ValueError(UID_PREFIX)
    digits = _UID_SEPARATORS.sub("", value[3:])
    if not _DIGITS.fullmatch(digits):
        raise ValueError(UID_LENGTH if not digits else UID_CHARACTERS)
    if len(digits) != 9:
        raise ValueError(UID_LENGTH)
    if _uid_check_digit(digits[:8]) != int(digits[8]):
        raise ValueError(UID_CHECK_DIGIT)
    return _format_uid(digits)


def is_valid_uid(text: str) -> bool:
    """Tell whether text is a valid UID, in any of the forms normalize_uid accepts."""
    try:
        normalize_uid(text)
    except ValueError:
        return False
    return True


def make_uid(body: int) -> str:
    """Build a valid UID from an 8-digit body; raise ValueError where its check would be 10."""
    if isinstance(body, bool) or not isinstance(body, int):
        raise TypeError("the body of a UID is an int")
    if not 0 <= body <= 99_999_999:
        raise ValueError("the body of a UID has at most 8 digits and is not negative")
    digits8 = f"{body:08d}"
    check = _uid_check_digit(digits8)
    if check is None:
        raise ValueError(f"UID body {digits8} has check digit 10 and is never issued; pick another")
    return _format_uid(f"{digits8}{check}")
