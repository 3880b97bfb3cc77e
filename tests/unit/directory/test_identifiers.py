"""AHV numbers and UIDs: every check digit below is worked out by hand in a comment."""

import pytest

from directory.identifiers import (
    AHVN13_CHARACTERS,
    AHVN13_CHECK_DIGIT,
    AHVN13_EMPTY,
    AHVN13_LENGTH,
    AHVN13_PREFIX,
    UID_CHARACTERS,
    UID_CHECK_DIGIT,
    UID_EMPTY,
    UID_LENGTH,
    UID_PREFIX,
    is_valid_ahvn13,
    is_valid_uid,
    make_ahvn13,
    make_uid,
    normalize_ahvn13,
    normalize_uid,
)

# EAN-13 weights the first twelve digits 1, 3, 1, 3, … from the left; check = (10 - sum % 10) % 10.
#
# 756.9217.0769.85  7 5 6 9 2 1 7 0 7 6 9 8
#   7 + 15 + 6 + 27 + 2 + 3 + 7 + 0 + 7 + 18 + 9 + 24 = 125  ->  (10 - 5) % 10 = 5
# 756.1234.5678.97  7 5 6 1 2 3 4 5 6 7 8 9
#   7 + 15 + 6 + 3 + 2 + 9 + 4 + 15 + 6 + 21 + 8 + 27 = 123  ->  (10 - 3) % 10 = 7
# 756.0000.0000.02  7 + 15 + 6 = 28  ->  2
# 756.9999.9999.91  28 + 9 * (3 + 1 + 3 + 1 + 3 + 1 + 3 + 1 + 3) = 28 + 171 = 199  ->  1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("756.9217.0769.85", "756.9217.0769.85"),
        ("7569217076985", "756.9217.0769.85"),
        ("756 9217 0769 85", "756.9217.0769.85"),
        ("  756.1234.5678.97 ", "756.1234.5678.97"),
        ("756\u00a01234\u00a05678\u00a097", "756.1234.5678.97"),  # no-break spaces from a PDF
        ("756.0000.0000.02", "756.0000.0000.02"),
        ("756.9999.9999.91", "756.9999.9999.91"),
    ],
)
def test_normalize_ahvn13_accepts_valid_numbers(text, expected):
    assert normalize_ahvn13(text) == expected
    assert is_valid_ahvn13(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", AHVN13_EMPTY),
        (" . ", AHVN13_EMPTY),
        ("756.9217.0769.8", AHVN13_LENGTH),  # 12 digits
        ("756.9217.0769.855", AHVN13_LENGTH),  # 14 digits
        ("756-9217-0769-85", AHVN13_CHARACTERS),
        ("756.9217.O769.85", AHVN13_CHARACTERS),  # a letter O, not a zero
        ("756.9217.0769.8\u0665", AHVN13_CHARACTERS),  # an Arabic-Indic five
        ("123.4567.8901.28", AHVN13_PREFIX),  # valid EAN-13, but not Swiss
        ("756.9217.0769.84", AHVN13_CHECK_DIGIT),  # the check is 5
        ("756.9217.0796.85", AHVN13_CHECK_DIGIT),  # 6 and 9 swapped: 6*3 + 9*1 != 9*3 + 6*1
        ("756.1234.5678.90", AHVN13_CHECK_DIGIT),  # the check is 7
    ],
)
def test_normalize_ahvn13_rejects_with_a_reason(text, message):
    with pytest.raises(ValueError) as excinfo:
        normalize_ahvn13(text)
    assert str(excinfo.value) == message
    assert not is_valid_ahvn13(text)


@pytest.mark.parametrize(
    "message",
    [
        AHVN13_EMPTY,
        AHVN13_CHARACTERS,
        AHVN13_LENGTH,
        AHVN13_PREFIX,
        AHVN13_CHECK_DIGIT,
        UID_EMPTY,
        UID_PREFIX,
        UID_CHARACTERS,
        UID_LENGTH,
        UID_CHECK_DIGIT,
    ],
)
def test_messages_are_fixed_sentences_a_catalogue_can_translate(message):
    assert message[0].isupper() and message.endswith(".")
    assert "{" not in message and "%" not in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (0, "756.0000.0000.02"),
        (123456789, "756.1234.5678.97"),
        (921707698, "756.9217.0769.85"),
        (999999999, "756.9999.9999.91"),
        (42, "756.0000.0004.22"),  # 28 + 4 * 1 + 2 * 3 = 38  ->  2
    ],
)
def test_make_ahvn13_builds_the_known_numbers(body, expected):
    assert make_ahvn13(body) == expected


@pytest.mark.parametrize("body", [0, 1, 7, 4711, 123456789, 555555555, 999999999])
def test_make_ahvn13_round_trips(body):
    number = make_ahvn13(body)
    assert normalize_ahvn13(number) == number
    assert normalize_ahvn13(number.replace(".", "")) == number


@pytest.mark.parametrize(
    ("body", "error"),
    [(-1, ValueError), (1_000_000_000, ValueError), ("123456789", TypeError), (True, TypeError)],
)
def test_make_ahvn13_rejects_bodies_that_are_not_nine_digits(body, error):
    with pytest.raises(error):
        make_ahvn13(body)


# UID: weights 5, 4, 3, 2, 7, 6, 5, 4 over the first eight digits; check = 11 - sum % 11, where 11
# counts as 0 and 10 means the body is never issued.
#
# CHE-109.322.551   1 0 9 3 2 2 5 5
#   5 + 0 + 27 + 6 + 14 + 12 + 25 + 20 = 109;  109 % 11 = 10  ->  11 - 10 = 1
# CHE-123.456.788   1 2 3 4 5 6 7 8
#   5 + 8 + 9 + 8 + 35 + 36 + 35 + 32 = 168;  168 % 11 = 3   ->  11 - 3 = 8
# CHE-116.281.710   1 1 6 2 8 1 7 1
#   5 + 4 + 18 + 4 + 56 + 6 + 35 + 4 = 132;   132 % 11 = 0   ->  11 counts as 0
# CHE-000.000.017   0 0 0 0 0 0 0 1
#   4;  4 % 11 = 4  ->  7
# body 00000003:    3 * 4 = 12;  12 % 11 = 1  ->  11 - 1 = 10: never issued


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CHE-109.322.551", "CHE-109.322.551"),
        ("CHE109322551", "CHE-109.322.551"),
        ("che 109 322 551", "CHE-109.322.551"),
        ("CHE-109322551", "CHE-109.322.551"),
        ("CHE-109.322.551 MWST", "CHE-109.322.551"),
        ("CHE-109.322.551 TVA", "CHE-109.322.551"),
        ("CHE-109.322.551 IVA", "CHE-109.322.551"),
        ("CHE-109.322.551 HR", "CHE-109.322.551"),
        ("che-109.322.551 mwst", "CHE-109.322.551"),
        (" CHE-123.456.788 ", "CHE-123.456.788"),
        ("CHE-116.281.710", "CHE-116.281.710"),
        ("CHE-000.000.017", "CHE-000.000.017"),
    ],
)
def test_normalize_uid_accepts_valid_numbers(text, expected):
    assert normalize_uid(text) == expected
    assert is_valid_uid(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", UID_EMPTY),
        ("   ", UID_EMPTY),
        ("109.322.551", UID_PREFIX),
        ("CH-109.322.551", UID_PREFIX),
        ("ADM-109.322.551", UID_PREFIX),
        ("CHE", UID_LENGTH),
        ("CHE-109.322.55", UID_LENGTH),
        ("CHE-109.322.5511", UID_LENGTH),
        ("CHE-109.322.55l", UID_CHARACTERS),  # a letter l, not a one
        ("CHE-109.322.551 VAT", UID_CHARACTERS),  # not one of the Swiss register suffixes
        ("CHE-109.322.551MWST", UID_CHARACTERS),
        ("CHE-109/322/551", UID_CHARACTERS),
        ("CHE-109.322.552", UID_CHECK_DIGIT),  # the check is 1
        ("CHE-123.456.789", UID_CHECK_DIGIT),  # the check is 8
        ("CHE-190.322.551", UID_CHECK_DIGIT),  # 0 and 9 swapped: 0*4 + 9*3 != 9*4 + 0*3
        ("CHE-000.000.030", UID_CHECK_DIGIT),  # body 00000003 has check 10: no digit fits
        ("CHE-000.000.031", UID_CHECK_DIGIT),
    ],
)
def test_normalize_uid_rejects_with_a_reason(text, message):
    with pytest.raises(ValueError) as excinfo:
        normalize_uid(text)
    assert str(excinfo.value) == message
    assert not is_valid_uid(text)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (10932255, "CHE-109.322.551"),
        (12345678, "CHE-123.456.788"),
        (11628171, "CHE-116.281.710"),
        (1, "CHE-000.000.017"),
    ],
)
def test_make_uid_builds_the_known_numbers(body, expected):
    assert make_uid(body) == expected


def test_make_uid_refuses_a_body_whose_check_would_be_10():
    with pytest.raises(ValueError, match="pick another"):
        make_uid(3)


def test_make_uid_round_trips_or_refuses_over_a_range_of_bodies():
    refused = 0
    for body in range(100_000_000 - 1, 0, -999_983):  # a prime stride touches every digit place
        try:
            number = make_uid(body)
        except ValueError:
            refused += 1
            continue
        assert normalize_uid(number) == number
        assert normalize_uid(number.replace("-", "").replace(".", "")) == number
    # About one body in eleven has check 10.
    assert 0 < refused < 20


@pytest.mark.parametrize(
    ("body", "error"),
    [(-1, ValueError), (100_000_000, ValueError), (1.0, TypeError), (False, TypeError)],
)
def test_make_uid_rejects_bodies_that_are_not_eight_digits(body, error):
    with pytest.raises(error):
        make_uid(body)
