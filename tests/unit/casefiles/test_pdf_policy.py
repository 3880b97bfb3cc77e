"""The PDF rules of the intake policy, file by file (`inspect_pdf` as the sandbox runs it)."""

from __future__ import annotations

import io

import pikepdf
import pytest

from casefiles import pdf_policy
from casefiles.pdf_policy import Finding, html_outside_objects, inspect_pdf
from tests.conftest import make_pdf
from tests.support import hostile


@pytest.mark.parametrize(
    ("build", "message", "params"),
    [
        (hostile.javascript_open_action, pdf_policy.JAVASCRIPT, {}),
        (hostile.javascript_on_page_open, pdf_policy.JAVASCRIPT, {}),
        (hostile.launch_link, pdf_policy.LAUNCH, {}),
        (hostile.uri_open_action, pdf_policy.AUTOMATIC_ACTION, {"action": "URI"}),
        (hostile.submit_form_link, pdf_policy.CLICK_ACTION, {"action": "SubmitForm"}),
        (hostile.xfa_form, pdf_policy.XFA_FORM, {}),
        (hostile.embedded_file, pdf_policy.EMBEDDED_FILES, {}),
        (hostile.encrypted_with_empty_password, pdf_policy.ENCRYPTED, {}),
        (hostile.html_polyglot_head, pdf_policy.HTML_POLYGLOT, {}),
        (hostile.html_polyglot_tail, pdf_policy.HTML_POLYGLOT, {}),
        (hostile.page_tree_loop, pdf_policy.DAMAGED, {}),
        (lambda: hostile.xref_bomb(8_000_000), pdf_policy.TOO_MANY_OBJECTS, {"limit": 250_000}),
        (lambda: hostile.many_pages(100_000), pdf_policy.TOO_MANY_PAGES, {"limit": 2000}),
    ],
)
def test_refused(build, message, params):
    assert inspect_pdf(build(), 2000) == Finding(message, params)


@pytest.mark.parametrize(
    "build", [make_pdf, hostile.harmless_actions, hostile.html_inside_text], ids=str
)
def test_accepted(build):
    assert inspect_pdf(build(), 2000) is None


def test_a_page_tree_that_lies_about_its_count_is_counted():
    lying = hostile.many_pages(2500, count=1)
    assert inspect_pdf(lying, 2000) == Finding(pdf_policy.TOO_MANY_PAGES, {"limit": 2000})
    assert inspect_pdf(lying, 3000) is None


def test_the_page_limit_is_the_configured_one():
    five = make_pdf(pages=5)
    assert inspect_pdf(five, 5) is None
    assert inspect_pdf(five, 4) == Finding(pdf_policy.TOO_MANY_PAGES, {"limit": 4})


def test_a_pdf_with_a_user_password_is_refused_as_encrypted():
    with pikepdf.open(io.BytesIO(make_pdf())) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    assert inspect_pdf(out.getvalue(), 2000) == Finding(pdf_policy.ENCRYPTED)


def test_garbage_after_the_signature_is_damage():
    assert inspect_pdf(b"%PDF-1.7\n" + b"\x00garbage" * 100, 2000) == Finding(pdf_policy.DAMAGED)


def test_where_html_counts():
    pdf = make_pdf("x")
    padding = b"%" + b"x" * 1100 + b"\n"
    head, rest = pdf.split(b"\n", 1)
    assert html_outside_objects(head + b"\n%<svg onload=alert(1)>\n" + rest)  # first 1024 bytes
    assert html_outside_objects(pdf + b"<script>alert(1)</script>")  # after %%EOF
    between = rest.replace(b"endobj\n", b"endobj\n<iframe src=x>\n", 1)
    assert html_outside_objects(head + b"\n" + padding + between)  # between objects
    inside = rest.replace(b"endobj\n", b"(<script>) endobj\n", 1)
    assert not html_outside_objects(head + b"\n" + padding + inside)  # a string in an object
    assert not html_outside_objects(pdf.replace(b"%PDF-1.4", b"%PDF-1.4 <htmlx"))  # no tag
