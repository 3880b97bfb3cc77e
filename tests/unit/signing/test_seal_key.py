"""One seal-key interface (signing.seal_key.SealKey): a key file and a key in a real SoftHSM2
token are used alike by everything that signs, and so is a key the signing code never saw."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.sign.signers import Signer
from reportlab.pdfgen import canvas

from signing import (
    FileSealKey,
    Keyring,
    Pkcs11SealKey,
    SealKey,
    generate_token_key,
    issue_certificate,
    load_or_create_keyring,
    seal_pdf,
    sign,
    validate_pdf,
    verify,
)
from signing.chain import link_problems, sealed_row
from signing.jws import sign_json, verify_json
from tests.support.softhsm import SoftHsmToken as Token

_T = TypeVar("_T")
SIGNING = Path(__file__).resolve().parents[3] / "signing"
DATA = b"journal entry 4711"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return load_or_create_keyring(Path(tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    buffer = BytesIO()
    document = canvas.Canvas(buffer)
    document.drawString(72, 720, "Verfuegung Nr. 2026-0815")
    document.showPage()
    document.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def file_key(keyring: Keyring) -> FileSealKey:
    return issue_certificate(keyring, "Siegel Datei", "Gemeinde Emmen")


@pytest.fixture(scope="module")
def token_key(softhsm: Token, keyring: Keyring) -> Pkcs11SealKey:
    return generate_token_key(
        softhsm.module_path,
        softhsm.label,
        softhsm.pin,
        "seal-key-interface",
        keyring,
        "Siegel Token",
        "Gemeinde Emmen",
    )


@dataclasses.dataclass
class RecordingKey:
    """A `SealKey` of the test's own: it lends a file key's signatures and notes each use."""

    inner: FileSealKey
    signed: list[bytes] = dataclasses.field(default_factory=list)
    pdf_signers: int = 0

    @property
    def certificate(self) -> x509.Certificate:
        return self.inner.certificate

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return self.inner.chain

    @property
    def key_id(self) -> str:
        return self.inner.key_id

    def sign(self, data: bytes) -> bytes:
        self.signed.append(data)
        return self.inner.sign(data)

    def with_pdf_signer(self, action: Callable[[Signer], _T]) -> _T:
        self.pdf_signers += 1
        return self.inner.with_pdf_signer(action)


@pytest.fixture(params=["file", "token", "own"])
def key(request: pytest.FixtureRequest, file_key: FileSealKey) -> SealKey:
    if request.param == "file":
        return file_key
    if request.param == "token":
        token_key: Pkcs11SealKey = request.getfixturevalue("token_key")
        return token_key
    return RecordingKey(file_key)


def test_a_signature_verifies_with_the_certificate(key: SealKey, keyring: Keyring) -> None:
    signature = sign(key, DATA)
    assert signature[0] == 0x30  # DER SEQUENCE {r, s}, whatever holds the key
    assert verify(key.certificate, DATA, signature)
    assert not verify(key.certificate, DATA + b"!", signature)
    assert not verify(keyring.seal.certificate, DATA, signature)
    assert key.key_id == hashlib.sha256(key.certificate.public_bytes(Encoding.DER)).hexdigest()


def test_a_signed_json_receipt_verifies(key: SealKey, keyring: Keyring) -> None:
    payload = {"receipt": {"opened_at": "2026-03-02T09:15:30+00:00"}, "entry_hash": "cd" * 32}
    token = sign_json(key, payload)
    assert verify_json(token, [keyring.ca_certificate]) == payload
    header, body, signature = token.split(".")
    with pytest.raises(ValueError, match="not a valid signed receipt"):
        verify_json(f"{header}.{body}.{signature[:-4]}AAAA", [keyring.ca_certificate])


def test_a_pades_seal_validates(key: SealKey, keyring: Keyring, pdf: bytes) -> None:
    [status] = validate_pdf(seal_pdf(pdf, key, reason="Zustellung"), [keyring.ca_certificate])
    [common_name] = key.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert status.signer == common_name.value
    assert status.intact and status.valid and status.trusted and status.covers_whole_document


def test_a_chain_entry_sealed_with_the_key_checks_out(key: SealKey, keyring: Keyring) -> None:
    sealing = keyring.with_seal(key)
    row = sealed_row(
        sealing,
        "case_id",
        uuid.uuid4(),
        1,
        "0" * 64,
        _Actor(),
        "case.opened",
        {"reference": "2026-0815"},
        recorded_at=dt.datetime(2026, 3, 2, 9, 15, 30, tzinfo=dt.UTC),
    )
    assert row["key_id"] == key.key_id
    assert list(link_problems("case_id", [row], sealing.certificate)) == []
    forged = {**row, "signature": sign(keyring.seal, bytes.fromhex(row["entry_hash"]))}
    [(_, problem)] = link_problems("case_id", [forged], sealing.certificate)
    assert problem == "signature is not valid"


def test_the_signing_code_uses_only_the_interface(file_key: FileSealKey, pdf: bytes) -> None:
    key = RecordingKey(file_key)
    sign(key, DATA)
    sign_json(key, {"a": 1})
    seal_pdf(pdf, key, reason="x")
    assert key.signed[0] == DATA and len(key.signed) == 2  # the PDF goes via pyHanko's signer
    assert key.pdf_signers == 1


def test_no_code_asks_which_kind_of_key_it_has() -> None:
    # isinstance on cryptography's key types validates input; on our key classes it would
    # mean the interface leaks.
    ours = {"FileSealKey", "Pkcs11SealKey", "SealKey", "RecordingKey"}
    found = []
    for path in sorted(SIGNING.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                names |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if names & ours:
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_no_private_name_is_imported_from_signing() -> None:
    root = SIGNING.parent
    found = []
    for folder in ("app", "bench", "casefiles", "catalogue", "directory", "mailbox", "signing"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ImportFrom)
                    and (node.module or "").split(".")[0] == "signing"
                    and any(alias.name.startswith("_") for alias in node.names)
                ):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name)
                    and node.value.id in _signing_modules()
                ):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.attr}")
    assert found == []


def _signing_modules() -> set[str]:
    return {path.stem for path in SIGNING.glob("*.py")} | {"_sessions", "signing"}


class _Actor:
    kind = "authority"
    ref = "b2c3d4e5-0000-4000-8000-000000000001"
    label = "Steueramt"
