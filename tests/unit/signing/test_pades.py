"""PAdES seals as a resident's PDF reader, an archive and the portal itself check them."""

import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from signing import Keyring, issue_certificate, load_or_create_keyring, seal_pdf, validate_pdf

TEXT = b"Verfuegung Nr. 2025-0042"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return load_or_create_keyring(Path(tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="module")
def foreign_keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return load_or_create_keyring(Path(tmp_path_factory.mktemp("foreign-keys")))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    buffer = BytesIO()
    # Uncompressed page content, so a test can find and change the text in the file.
    document = canvas.Canvas(buffer, pageCompression=0)
    document.drawString(72, 720, TEXT.decode())
    document.showPage()
    document.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sealed(pdf: bytes, keyring: Keyring) -> bytes:
    return seal_pdf(pdf, keyring.seal, reason="Amtliche Zustellung")


def test_sealed_pdf_validates(sealed: bytes, keyring: Keyring) -> None:
    [status] = validate_pdf(sealed, [keyring.ca_certificate])
    assert status.field_name == "Siegel"
    assert status.signer == "Einwohnerportal Luzern Siegel"
    assert status.intact and status.valid and status.trusted
    assert status.covers_whole_document
    assert status.signed_at is not None and status.signed_at.tzinfo is not None


def test_unsigned_pdf_has_no_signatures(pdf: bytes, keyring: Keyring) -> None:
    assert validate_pdf(pdf, [keyring.ca_certificate]) == []


def test_changed_byte_breaks_the_seal(sealed: bytes, keyring: Keyring) -> None:
    index = sealed.index(TEXT)
    assert index < sealed.index(b"/ByteRange")  # inside the signed range
    tampered = sealed[:index] + b"X" + sealed[index + 1 :]
    [status] = validate_pdf(tampered, [keyring.ca_certificate])
    assert not status.intact
    assert not status.trusted


def test_foreign_root_is_not_trusted(sealed: bytes, foreign_keyring: Keyring) -> None:
    [status] = validate_pdf(sealed, [foreign_keyring.ca_certificate])
    assert status.intact and status.valid
    assert not status.trusted


def test_second_seal_keeps_the_first_intact(sealed: bytes, keyring: Keyring) -> None:
    authority = issue_certificate(keyring, "Steueramt Luzern", "Kanton Luzern")
    twice = seal_pdf(sealed, authority, reason="Eroeffnet", field_name="Siegel 2")
    assert twice.startswith(sealed)  # an incremental update, the first revision untouched
    first, second = validate_pdf(twice, [keyring.ca_certificate])
    assert (first.field_name, second.field_name) == ("Siegel", "Siegel 2")
    assert second.signer == "Steueramt Luzern"
    assert all(s.intact and s.valid and s.trusted for s in (first, second))
    assert not first.covers_whole_document
    assert second.covers_whole_document


def test_sealing_a_filled_field_again_is_refused(sealed: bytes, keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="Siegel"):
        seal_pdf(sealed, keyring.seal, reason="again")


@pytest.mark.parametrize("garbage", [b"", b"not a pdf at all", b"%PDF-1.7\n% broken\n"])
def test_garbage_is_not_a_readable_pdf(garbage: bytes, keyring: Keyring) -> None:
    with pytest.raises(ValueError, match="not a readable PDF"):
        validate_pdf(garbage, [keyring.ca_certificate])
    with pytest.raises(ValueError, match="not a readable PDF"):
        seal_pdf(garbage, keyring.seal, reason="x")


def test_mangled_signature_is_reported_not_raised(sealed: bytes, keyring: Keyring) -> None:
    start = sealed.index(b"/Contents <") + len(b"/Contents <")
    mangled = sealed[:start] + b"00" + sealed[start + 2 :]  # breaks the CMS header
    [status] = validate_pdf(mangled, [keyring.ca_certificate])
    assert (status.field_name, status.intact, status.valid, status.trusted) == (
        "Siegel",
        False,
        False,
        False,
    )


def test_poppler_finds_the_seal_valid(sealed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    result = subprocess.run(
        ["pdfsig", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    # Poppler does not know our root, so only the signature line is asserted, not the trust.
    assert "Signature Validation: Signature is Valid" in result.stdout, result.stdout
