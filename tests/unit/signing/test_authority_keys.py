"""Authorities' seals in files, and the references that name a seal in a file or a token."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from reportlab.pdfgen import canvas

from signing import (
    FileSealKey,
    Keyring,
    issue_authority_seal,
    load_or_create_keyring,
    load_seal,
    seal_pdf,
    sign,
    validate_pdf,
    verify,
)


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return load_or_create_keyring(Path(tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    buffer = BytesIO()
    document = canvas.Canvas(buffer)
    document.drawString(72, 720, "Veranlagungsverfuegung 2025")
    document.showPage()
    document.save()
    return buffer.getvalue()


def test_issued_seal_is_written_and_validates(keyring: Keyring, tmp_path: Path, pdf: bytes) -> None:
    seal = issue_authority_seal(keyring, tmp_path, "steueramt", "Steueramt Luzern")

    assert seal.certificate.subject.rfc4514_string() == (
        "C=CH,O=Steueramt Luzern,CN=Siegel Steueramt Luzern"
    )
    seal.certificate.verify_directly_issued_by(keyring.ca_certificate)
    assert seal.chain == (keyring.ca_certificate,)
    assert stat.S_IMODE((tmp_path / "steueramt.key.pem").stat().st_mode) == 0o600
    assert (tmp_path / "steueramt.pem").is_file()

    [status] = validate_pdf(seal_pdf(pdf, seal, reason="Verfuegung"), [keyring.ca_certificate])
    assert status.signer == "Siegel Steueramt Luzern"
    assert status.intact and status.valid and status.trusted


def test_issuing_again_loads_the_same_seal(keyring: Keyring, tmp_path: Path) -> None:
    first = issue_authority_seal(keyring, tmp_path, "kriens", "Gemeinde Kriens")
    key_file = (tmp_path / "kriens.key.pem").read_bytes()

    again = issue_authority_seal(keyring, tmp_path, "kriens", "Gemeinde Kriens")

    assert again.key_id == first.key_id
    assert again.chain == first.chain
    assert (tmp_path / "kriens.key.pem").read_bytes() == key_file
    assert verify(first.certificate, b"x", sign(again, b"x"))


def test_existing_files_need_no_ca_key(keyring: Keyring, tmp_path: Path) -> None:
    first = issue_authority_seal(keyring, tmp_path, "emmen", "Gemeinde Emmen")
    offline = Keyring(keyring.ca_certificate, None, keyring.seal, dict(keyring.certificates))

    assert issue_authority_seal(offline, tmp_path, "emmen", "Gemeinde Emmen").key_id == (
        first.key_id
    )
    with pytest.raises(ValueError, match="no CA private key.*'horw'"):
        issue_authority_seal(offline, tmp_path, "horw", "Gemeinde Horw")
    assert not (tmp_path / "horw.key.pem").exists()


def test_lost_key_retires_the_certificate(keyring: Keyring, tmp_path: Path) -> None:
    old = issue_authority_seal(keyring, tmp_path, "sursee", "Gemeinde Sursee")
    (tmp_path / "sursee.key.pem").unlink()

    new = issue_authority_seal(keyring, tmp_path, "sursee", "Gemeinde Sursee")

    assert new.key_id != old.key_id
    retired = (tmp_path / "retired" / f"{old.key_id}.pem").read_bytes()
    assert retired == old.certificate.public_bytes(serialization.Encoding.PEM)


def test_key_without_certificate_gets_one(keyring: Keyring, tmp_path: Path) -> None:
    old = issue_authority_seal(keyring, tmp_path, "ebikon", "Gemeinde Ebikon")
    (tmp_path / "ebikon.pem").unlink()  # as if a crash came between key and certificate

    new = issue_authority_seal(keyring, tmp_path, "ebikon", "Gemeinde Ebikon")

    assert new.private_key.public_key() == old.private_key.public_key()
    assert new.key_id != old.key_id  # a new certificate for the same key


def test_passphrase_encrypts_the_key_file(
    keyring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", "correct horse")
    seal = issue_authority_seal(keyring, tmp_path, "willisau", "Stadt Willisau")
    assert b"ENCRYPTED" in (tmp_path / "willisau.key.pem").read_bytes()
    assert load_seal(f"file:{tmp_path / 'willisau'}").key_id == seal.key_id

    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", "wrong")
    with pytest.raises(ValueError, match="PORTAL_KEY_PASSPHRASE") as caught:
        load_seal(f"file:{tmp_path / 'willisau'}")
    assert "correct horse" not in str(caught.value)


@pytest.mark.parametrize("slug", ["", "../etc", "a/b", "Steueramt", ".hidden", "ca", "seal"])
def test_bad_slugs_are_refused(keyring: Keyring, tmp_path: Path, slug: str) -> None:
    with pytest.raises(ValueError, match="slug"):
        issue_authority_seal(keyring, tmp_path, slug, "Irgendwer")


def test_file_reference_round_trip(keyring: Keyring, tmp_path: Path, pdf: bytes) -> None:
    seal = issue_authority_seal(keyring, tmp_path, "luzern", "Stadt Luzern")

    for ref in (f"file:{tmp_path / 'luzern'}", f"file://{tmp_path / 'luzern'}"):
        loaded = load_seal(ref)
        assert isinstance(loaded, FileSealKey)
        assert loaded.key_id == seal.key_id
        assert loaded.chain == (keyring.ca_certificate,)  # read back from luzern.pem

    loaded = load_seal(f"file:{tmp_path / 'luzern'}")
    [status] = validate_pdf(seal_pdf(pdf, loaded, reason="x"), [keyring.ca_certificate])
    assert status.intact and status.valid and status.trusted


def test_file_reference_with_a_given_certificate(keyring: Keyring, tmp_path: Path) -> None:
    seal = issue_authority_seal(keyring, tmp_path, "kanton", "Kanton Luzern")
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copy(tmp_path / "kanton.key.pem", moved / "kanton.key.pem")  # no kanton.pem there
    pem = seal.certificate.public_bytes(serialization.Encoding.PEM)

    loaded = load_seal(f"file:{moved / 'kanton'}", pem, chain=[keyring.ca_certificate])

    assert loaded.key_id == seal.key_id
    assert loaded.chain == (keyring.ca_certificate,)
    other = keyring.seal.certificate.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ValueError, match="does not belong to the key"):
        load_seal(f"file:{moved / 'kanton'}", other)


def test_missing_files_are_named(keyring: Keyring, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.key\.pem"):
        load_seal(f"file:{tmp_path / 'nowhere'}")
    issue_authority_seal(keyring, tmp_path, "meggen", "Gemeinde Meggen")
    (tmp_path / "meggen.pem").unlink()
    with pytest.raises(FileNotFoundError, match=r"meggen\.pem"):
        load_seal(f"file:{tmp_path / 'meggen'}")


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "steueramt",
        "/abs/path/steueramt",
        "http://example.org/seal",
        "file:",
        "file:relative/steueramt",
        "file://host/abs/steueramt",
        "file:/abs/dir/",
        "file:/abs/steueramt.pem",
        "pkcs11:",
        "pkcs11:token=portal",
        "pkcs11:object=seal",
        "pkcs11:token=;object=seal",
        "pkcs11:tokenportal;object=seal",
        "pkcs11:token=portal;object=seal;slot-id=3",
        "pkcs11:token=portal;token=other;object=seal",
        "pkcs11:token=portal;object=seal;type=cert",
        "pkcs11:token=portal;object=se%zzal",
        "pkcs11:token=portal;object=%ff",
        "pkcs11:token=portal;object=seal?module-path=relative.so",
        "pkcs11:token=portal;object=seal?max-sessions=3",
    ],
)
def test_malformed_references_are_value_errors(ref: str) -> None:
    with pytest.raises(ValueError):
        load_seal(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "pkcs11:token=portal;object=seal?pin-value=4321",
        "pkcs11:token=portal;object=seal;pin-value=4321",
        "pkcs11:token=portal;object=seal?pin-source=file:/run/pin-4321",
    ],
)
def test_a_pin_in_a_reference_is_refused_and_not_repeated(ref: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_seal(ref)
    assert "4321" not in str(caught.value)


def test_a_reference_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="string"):
        load_seal(b"file:/abs/seal")  # type: ignore[arg-type]


def test_signing_stays_free_of_flask_and_the_domain() -> None:
    script = (
        "import importlib, pkgutil, sys, signing\n"
        "for module in pkgutil.iter_modules(signing.__path__):\n"
        "    importlib.import_module(f'signing.{module.name}')\n"
        "bad = {'flask', 'app', 'casefiles', 'directory', 'mailbox', 'storage', 'pkcs11'}\n"
        "found = sorted(m for m in sys.modules if m.split('.')[0] in bad)\n"
        "print(found)\n"
        "sys.exit(1 if found else 0)\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # pkcs11 too: it is imported only when a token is used, so file keys work without it.
    assert result.returncode == 0, result.stdout + result.stderr
