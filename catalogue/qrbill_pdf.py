"""A bill with a Swiss QR-bill (payment part and receipt) as a one-page A4 PDF.

`qrbill` checks the data (QR-IBAN, QR reference or creditor reference, amount, structured
addresses) and gives the payload of the Swiss QR Code and the labels of the standard; the page is
drawn here with reportlab, so the text stays text (searchable, readable by screen readers) and no
SVG converter is needed. The layout follows the Swiss Implementation Guidelines for the QR-bill:
the payment part is 105 mm high at the bottom of the page, receipt 62 mm, payment part 148 mm,
the QR code 46 mm with the Swiss cross of 7 mm in its middle, error correction level M.
"""

from __future__ import annotations

import decimal
import io
from dataclasses import dataclass

import qrcode
import qrcode.constants
from qrbill import QRBill
from qrbill.bill import format_amount, format_ref_number
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from stdnum import iban
from stdnum.ch import esr
from stdnum.iso7064 import mod_97_10

FONT, BOLD = "Helvetica", "Helvetica-Bold"  # fonts the QR-bill standard allows
QR_IID = range(30000, 32000)  # a QR-IBAN's institution id; other IBANs take a creditor reference


@dataclass(frozen=True)
class Address:
    name: str
    street: str | None
    postcode: str
    town: str


@dataclass(frozen=True)
class Invoice:
    creditor: Address
    account: str  # the authority's QR-IBAN (or IBAN)
    amount: decimal.Decimal  # CHF
    reference: str  # a QR reference (27 digits) or a creditor reference (RF...)
    debtor: Address | None
    title: str  # the letter's heading, e.g. "Rechnung: Hundetaxe"
    lines: tuple[str, ...]  # the letter's text above the payment part
    information: str = ""  # "additional information" of the payment part (max. 140)
    language: str = "de"


def is_qr_iban(account: str) -> bool:
    compact = iban.compact(account)
    digits = compact[4:9]
    return digits.isascii() and digits.isdigit() and int(digits) in QR_IID


def reference_for(account: str, number: int) -> str:
    """The reference a bank needs with this account: a QR reference (26 digits and a check digit)
    for a QR-IBAN, else an ISO 11649 creditor reference (RF, check digits, 21 digits)."""
    if is_qr_iban(account):
        digits = f"{number % 10**26:026d}"
        return digits + esr.calc_check_digit(digits)
    body = f"{number % 10**21:021d}"
    return "RF" + mod_97_10.calc_check_digits(body + "RF") + body


def qr_bill(invoice: Invoice) -> QRBill:
    """The checked QR-bill; ValueError (from qrbill) when the data is not billable."""

    def address(a: Address) -> dict[str, str]:
        values = {"name": a.name[:70], "pcode": a.postcode, "city": a.town, "country": "CH"}
        if a.street:
            values["street"] = a.street[:70]
        return values

    language = invoice.language if invoice.language in ("de", "fr", "it", "en") else "de"
    return QRBill(
        account=invoice.account,
        creditor=address(invoice.creditor),
        amount=str(invoice.amount.quantize(decimal.Decimal("0.01"))),
        currency="CHF",
        debtor=address(invoice.debtor) if invoice.debtor else None,
        reference_number=invoice.reference,
        additional_information=invoice.information[:140],
        language=language,
    )


def render(invoice: Invoice) -> tuple[bytes, str]:
    """The bill as PDF bytes and the payload its QR code carries."""
    bill = qr_bill(invoice)
    payload = bill.qr_data()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(invoice.title)
    canvas.setAuthor(invoice.creditor.name)
    _letter(canvas, invoice, bill)
    _receipt(canvas, bill)
    _payment_part(canvas, bill, payload)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue(), payload


def _lines(canvas: Canvas, x: float, y: float, lines: list[str], size: float = 10) -> float:
    canvas.setFont(FONT, size)
    for line in lines:
        canvas.drawString(x, y, line)
        y -= size * 1.25
    return y


def _letter(canvas: Canvas, invoice: Invoice, bill: QRBill) -> None:
    width, height = A4
    left = 20 * mm
    creditor = invoice.creditor
    _lines(canvas, left, height - 20 * mm, _address_lines(creditor))
    if invoice.debtor is not None:
        _lines(canvas, 120 * mm, height - 50 * mm, _address_lines(invoice.debtor))
    canvas.setFont(BOLD, 14)
    canvas.drawString(left, height - 85 * mm, invoice.title[:80])
    y = height - 95 * mm
    for line in invoice.lines:
        y = _wrapped(canvas, left, y, line, width - 40 * mm)
        if y < 115 * mm:  # never into the payment part
            break


def _wrapped(canvas: Canvas, x: float, y: float, text: str, width: float) -> float:
    canvas.setFont(FONT, 10)
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}".strip()
        if line and canvas.stringWidth(candidate, FONT, 10) > width:
            canvas.drawString(x, y, line)
            y, line = y - 12.5, word
        else:
            line = candidate
    canvas.drawString(x, y, line)
    return y - 12.5


def _address_lines(a: Address) -> list[str]:
    return [a.name, *([a.street] if a.street else []), f"{a.postcode} {a.town}"]


def _receipt(canvas: Canvas, bill: QRBill) -> None:
    x, top = 5 * mm, 105 * mm
    canvas.setDash(2, 2)
    canvas.line(0, top, A4[0], top)  # where to cut: above the payment part
    canvas.line(62 * mm, 0, 62 * mm, top)  # and between receipt and payment part
    canvas.setDash()
    canvas.setFont(BOLD, 11)
    canvas.drawString(x, top - 10 * mm, bill.label("Receipt"))
    y = top - 17 * mm
    creditor = [iban.format(bill.account), *bill.creditor.as_paragraph(max_chars=38)]
    y = _section(canvas, x, y, bill.label("Account / Payable to"), creditor, 6, 8)
    y = _section(canvas, x, y, bill.label("Reference"), [format_ref_number(bill)], 6, 8)
    debtor = bill.debtor.as_paragraph(max_chars=38) if bill.debtor else []
    _section(canvas, x, y, bill.label("Payable by"), debtor, 6, 8)
    _amount(canvas, x, 37 * mm, bill, 6, 8)
    canvas.setFont(BOLD, 6)
    canvas.drawRightString(57 * mm, 18 * mm, bill.label("Acceptance point"))


def _payment_part(canvas: Canvas, bill: QRBill, payload: str) -> None:
    x, top = 67 * mm, 105 * mm
    canvas.setFont(BOLD, 11)
    canvas.drawString(x, top - 10 * mm, bill.label("Payment part"))
    _qr_code(canvas, x, top - 17 * mm - 46 * mm, payload)
    _amount(canvas, x, 37 * mm, bill, 8, 10)
    x2 = 118 * mm
    y = top - 10 * mm
    creditor = [iban.format(bill.account), *bill.creditor.as_paragraph()]
    y = _section(canvas, x2, y, bill.label("Account / Payable to"), creditor, 8, 10)
    y = _section(canvas, x2, y, bill.label("Reference"), [format_ref_number(bill)], 8, 10)
    if bill.additional_information:
        info = bill.additional_information
        y = _section(canvas, x2, y, bill.label("Additional information"),
                     [info[:60], info[60:]], 8, 10)  # fmt: skip
    debtor = bill.debtor.as_paragraph() if bill.debtor else []
    _section(canvas, x2, y, bill.label("Payable by"), debtor, 8, 10)


def _section(
    canvas: Canvas, x: float, y: float, head: str, lines: list[str], head_size: int, size: int
) -> float:
    canvas.setFont(BOLD, head_size)
    canvas.drawString(x, y, head)
    y -= size * 1.1
    return _lines(canvas, x, y, [line for line in lines if line], size) - 3 * mm


def _amount(canvas: Canvas, x: float, y: float, bill: QRBill, head_size: int, size: int) -> None:
    canvas.setFont(BOLD, head_size)
    canvas.drawString(x, y, bill.label("Currency"))
    canvas.drawString(x + 13 * mm, y, bill.label("Amount"))
    canvas.setFont(FONT, size)
    canvas.drawString(x, y - 5 * mm, bill.currency)
    canvas.drawString(x + 13 * mm, y - 5 * mm, format_amount(bill.amount))


def _qr_code(canvas: Canvas, x: float, y: float, payload: str) -> None:
    """The Swiss QR Code: 46 x 46 mm, level M, the Swiss cross (7 mm) in its middle."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(payload, optimize=0)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = 46 * mm
    module = size / len(matrix)
    canvas.setFillColorRGB(0, 0, 0)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            if dark:  # slightly overlapping squares: no hairline gaps when rendered
                canvas.rect(x + col * module, y + size - (row + 1) * module,
                            module + 0.05, module + 0.05, stroke=0, fill=1)  # fmt: skip
    cross, middle_x, middle_y = 7 * mm, x + size / 2, y + size / 2
    canvas.setFillColorRGB(1, 1, 1)  # the white margin around the cross
    canvas.rect(middle_x - cross / 2, middle_y - cross / 2, cross, cross, stroke=0, fill=1)
    inner = cross * 18.4 / 19.8
    canvas.setFillColorRGB(0, 0, 0)
    canvas.rect(middle_x - inner / 2, middle_y - inner / 2, inner, inner, stroke=0, fill=1)
    arm_long, arm_wide = cross * 11 / 19.8, cross * 3.3 / 19.8
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(
        middle_x - arm_wide / 2, middle_y - arm_long / 2, arm_wide, arm_long, stroke=0, fill=1
    )
    canvas.rect(
        middle_x - arm_long / 2, middle_y - arm_wide / 2, arm_long, arm_wide, stroke=0, fill=1
    )
    canvas.setFillColorRGB(0, 0, 0)
