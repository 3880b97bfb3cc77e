"""Seals whose key lives in a PKCS#11 token: a real SoftHSM2 token, no mocks."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import pkcs11
import pytest
from cryptography.hazmat.primitives import serialization
from pkcs11 import Attribute, ObjectClass
from reportlab.pdfgen import canvas

from signing import (
    Keyring,
    Pkcs11SealKey,
    TokenLoginError,
    generate_token_key,
    issue_certificate,
    load_or_create_keyring,
    load_seal,
    seal_pdf,
    sign,
    validate_pdf,
    verify,
)
from signing.pkcs11_sessions import (
    TokenSession,
    close_token_sessions,
    current_session,
    session_census,
)
from tests.support.softhsm import SoftHsmToken as Token

SEAL_LABEL = "portal-seal"
SEAL_NAME = "Einwohnerportal Luzern Siegel (HSM)"
DATA = hashlib.sha256(b"journal entry 17").digest()


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return load_or_create_keyring(Path(tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="module")
def token_key(softhsm: Token, keyring: Keyring) -> Pkcs11SealKey:
    return generate_token_key(
        softhsm.module_path,
        softhsm.label,
        softhsm.pin,
        SEAL_LABEL,
        keyring,
        SEAL_NAME,
        "Kanton Luzern",
    )


@pytest.fixture(scope="module")
def pdf() -> bytes:
    buffer = BytesIO()
    document = canvas.Canvas(buffer)
    document.drawString(72, 720, "Verfuegung Nr. 2025-0042")
    document.showPage()
    document.save()
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sealed(pdf: bytes, token_key: Pkcs11SealKey) -> bytes:
    return seal_pdf(pdf, token_key, reason="Amtliche Zustellung")


def _object_session(softhsm: Token, key: Pkcs11SealKey) -> pkcs11.Session:
    sign(key, DATA)  # makes sure the process is logged in
    # Without PIN: the process is logged in already, and a second login would fail.
    return pkcs11.lib(softhsm.module_path).get_token(token_label=softhsm.label).open()


def test_generated_key_has_a_certificate_from_the_portal_ca(
    token_key: Pkcs11SealKey, keyring: Keyring
) -> None:
    certificate = token_key.certificate
    assert certificate.subject.rfc4514_string() == f"C=CH,O=Kanton Luzern,CN={SEAL_NAME}"
    certificate.verify_directly_issued_by(keyring.ca_certificate)
    assert token_key.chain == (keyring.ca_certificate,)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert token_key.key_id == hashlib.sha256(der).hexdigest()


def test_pin_is_not_in_the_repr(token_key: Pkcs11SealKey, softhsm: Token) -> None:
    assert "pin" not in repr(token_key)
    assert softhsm.pin not in repr(token_key)


def test_sealed_pdf_validates_against_the_portal_ca(sealed: bytes, keyring: Keyring) -> None:
    [status] = validate_pdf(sealed, [keyring.ca_certificate])
    assert status.field_name == "Siegel"
    assert status.signer == SEAL_NAME
    assert status.intact and status.valid and status.trusted
    assert status.covers_whole_document


def test_foreign_root_does_not_trust_the_token_seal(sealed: bytes, tmp_path: Path) -> None:
    foreign = load_or_create_keyring(tmp_path / "foreign")
    [status] = validate_pdf(sealed, [foreign.ca_certificate])
    assert status.intact and status.valid and not status.trusted


def test_poppler_finds_the_token_seal_valid(sealed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    result = subprocess.run(
        ["pdfsig", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert "Signature Validation: Signature is Valid" in result.stdout, result.stdout


def test_file_and_token_seals_on_one_pdf(sealed: bytes, keyring: Keyring) -> None:
    authority = issue_certificate(keyring, "Steueramt Luzern", "Kanton Luzern")
    twice = seal_pdf(sealed, authority, reason="Eroeffnet", field_name="Siegel 2")
    first, second = validate_pdf(twice, [keyring.ca_certificate])
    assert (first.signer, second.signer) == (SEAL_NAME, "Steueramt Luzern")
    assert all(s.intact and s.valid and s.trusted for s in (first, second))


def test_digest_signature_with_the_token_key_verifies(
    token_key: Pkcs11SealKey, keyring: Keyring
) -> None:
    signature = sign(token_key, DATA)
    assert signature[0] == 0x30  # DER SEQUENCE (r, s), like file keys give
    assert verify(token_key.certificate, DATA, signature)
    assert not verify(token_key.certificate, DATA[:-1] + b"\x00", signature)
    assert not verify(keyring.seal.certificate, DATA, signature)


def test_the_journal_can_seal_with_a_token_key_in_the_keyring(
    token_key: Pkcs11SealKey, keyring: Keyring
) -> None:
    old_signature = sign(keyring.seal, DATA)
    adopted = keyring.with_seal(token_key)
    assert adopted.seal is token_key
    assert verify(adopted.certificate(token_key.key_id), DATA, sign(adopted.seal, DATA))
    # What the file seal signed before still verifies.
    assert verify(adopted.certificate(keyring.seal.key_id), DATA, old_signature)
    assert keyring.seal is not token_key  # the original is unchanged


def test_private_key_cannot_be_read_out(token_key: Pkcs11SealKey, softhsm: Token) -> None:
    session = _object_session(softhsm, token_key)
    try:
        [key] = session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: SEAL_LABEL}
        )
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.VALUE]
        # Nor can it be made extractable again (PKCS#11 allows True -> False only).
        with pytest.raises(pkcs11.PKCS11Error):
            key[Attribute.EXTRACTABLE] = True
    finally:
        session.close()


def test_certificate_is_stored_in_the_token_with_the_key(
    token_key: Pkcs11SealKey, softhsm: Token
) -> None:
    session = _object_session(softhsm, token_key)
    try:
        [certificate] = session.get_objects(
            {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: SEAL_LABEL}
        )
        [key] = session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: SEAL_LABEL}
        )
        der = token_key.certificate.public_bytes(serialization.Encoding.DER)
        assert bytes(certificate[Attribute.VALUE]) == der
        assert bytes(certificate[Attribute.ID]) == bytes(key[Attribute.ID])
    finally:
        session.close()


def test_a_taken_label_is_refused(
    softhsm: Token, keyring: Keyring, token_key: Pkcs11SealKey
) -> None:
    with pytest.raises(ValueError, match="already holds objects labelled"):
        generate_token_key(
            softhsm.module_path, softhsm.label, softhsm.pin, SEAL_LABEL, keyring, "X", "Y"
        )


def test_load_seal_round_trip(
    token_key: Pkcs11SealKey,
    softhsm: Token,
    keyring: Keyring,
    pdf: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    loaded = load_seal(f"pkcs11:token={softhsm.label};object={SEAL_LABEL}")
    assert isinstance(loaded, Pkcs11SealKey)
    assert loaded.key_id == token_key.key_id
    assert (loaded.module_path, loaded.token_label, loaded.key_label) == (
        softhsm.module_path,
        softhsm.label,
        SEAL_LABEL,
    )
    assert loaded.chain == ()  # the token holds no chain; the validator has the root
    [status] = validate_pdf(seal_pdf(pdf, loaded, reason="x"), [keyring.ca_certificate])
    assert status.intact and status.valid and status.trusted

    # With the certificate passed (and its chain after it) instead of read from the token.
    pem = b"".join(
        c.public_bytes(serialization.Encoding.PEM)
        for c in (token_key.certificate, keyring.ca_certificate)
    )
    given = load_seal(f"pkcs11:token={softhsm.label};object={SEAL_LABEL}", pem)
    assert given == token_key


def test_percent_encoded_labels(
    softhsm: Token, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = generate_token_key(
        softhsm.module_path,
        softhsm.label,
        softhsm.pin,
        "Gemeinde Kriens; Siegel",
        keyring,
        "Siegel Gemeinde Kriens",
        "Gemeinde Kriens",
    )
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", "/nonexistent/module.so")
    loaded = load_seal(
        f"pkcs11:token={softhsm.label};object=Gemeinde%20Kriens%3B%20Siegel;type=private"
        f"?module-path={softhsm.module_path}"
    )
    assert loaded.key_id == generated.key_id


def test_certificate_of_another_key_is_refused(
    token_key: Pkcs11SealKey, softhsm: Token, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    other = keyring.seal.certificate.public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ValueError, match="does not belong to key"):
        load_seal(f"pkcs11:token={softhsm.label};object={SEAL_LABEL}", other)


def test_unknown_key_label_is_a_lookup_error(
    token_key: Pkcs11SealKey, softhsm: Token, pdf: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = dataclasses.replace(token_key, key_label="no-such-key")
    with pytest.raises(LookupError, match="no private key labelled 'no-such-key'"):
        sign(missing, DATA)
    with pytest.raises(LookupError, match="no private key labelled 'no-such-key'"):
        seal_pdf(pdf, missing, reason="x")
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    with pytest.raises(LookupError, match="no certificate labelled 'no-such-key'"):
        load_seal(f"pkcs11:token={softhsm.label};object=no-such-key")


def test_unknown_token_is_a_lookup_error(token_key: Pkcs11SealKey) -> None:
    elsewhere = dataclasses.replace(token_key, token_label="no-such-token")
    with pytest.raises(LookupError, match="no token labelled 'no-such-token'.*'portal'"):
        sign(elsewhere, DATA)


def test_missing_module_is_a_file_not_found_error(token_key: Pkcs11SealKey) -> None:
    nowhere = dataclasses.replace(token_key, module_path="/nonexistent/libpkcs11.so")
    with pytest.raises(FileNotFoundError, match="PORTAL_PKCS11_MODULE"):
        sign(nowhere, DATA)


def test_missing_pin_is_readable(softhsm: Token, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_PKCS11_PIN", raising=False)
    with pytest.raises(TokenLoginError, match="PORTAL_PKCS11_PIN is not set"):
        load_seal(f"pkcs11:token={softhsm.label};object={SEAL_LABEL}")


def test_other_pin_than_the_logged_in_one_is_refused(token_key: Pkcs11SealKey) -> None:
    sign(token_key, DATA)  # logged in with the right PIN
    wrong = dataclasses.replace(token_key, pin="9876")
    with pytest.raises(TokenLoginError, match="wrong PIN for token 'portal'") as caught:
        sign(wrong, DATA)
    assert "9876" not in str(caught.value)


def test_wrong_pin_is_refused_by_the_token(
    token_key: Pkcs11SealKey, softhsm: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    close_token_sessions()  # logged out: the next PIN goes to the token itself
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", "9876")
    with pytest.raises(TokenLoginError, match="wrong PIN for token 'portal'") as caught:
        load_seal(f"pkcs11:token={softhsm.label};object={SEAL_LABEL}")
    message = str(caught.value)
    assert "9876" not in message and softhsm.pin not in message
    assert isinstance(caught.value.__context__, pkcs11.PinIncorrect)
    # The right PIN still works afterwards.
    assert verify(token_key.certificate, DATA, sign(token_key, DATA))


def test_wrong_pin_in_a_fresh_process_is_readable(softhsm: Token) -> None:
    script = (
        "from signing import load_seal\n"
        f"load_seal('pkcs11:token={softhsm.label};object={SEAL_LABEL}')\n"
    )
    env = {
        **os.environ,
        "SOFTHSM2_CONF": softhsm.conf_path,
        "PORTAL_PKCS11_MODULE": softhsm.module_path,
        "PORTAL_PKCS11_PIN": "4711",
    }
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "TokenLoginError: wrong PIN for token 'portal'" in result.stderr, result.stderr
    assert "4711" not in result.stderr + result.stdout


def test_one_session_per_thread_is_reused(token_key: Pkcs11SealKey, pdf: bytes) -> None:
    sign(token_key, DATA)
    before = _my_session(token_key)
    for _ in range(3):
        seal_pdf(pdf, token_key, reason="x")
        sign(token_key, DATA)
    assert _my_session(token_key) is before
    assert session_census().logins == 1


def test_threads_seal_at_once(token_key: Pkcs11SealKey, keyring: Keyring, pdf: bytes) -> None:
    def seal(index: int) -> tuple[bytes, int]:
        return seal_pdf(pdf, token_key, reason=f"Nr. {index}"), threading.get_ident()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(seal, range(16)))
    for sealed, _ in results:
        [status] = validate_pdf(sealed, [keyring.ca_certificate])
        assert status.intact and status.valid and status.trusted
    assert session_census().logins == 1
    assert len({ident for _, ident in results}) <= 4
    # The pool's threads have ended: the next session opened closes theirs.
    worker = threading.Thread(target=sign, args=(token_key, DATA))
    worker.start()
    worker.join()
    ended = [thread for thread in session_census().threads if not thread.is_alive()]
    assert ended == [worker]


def test_a_closed_session_is_reopened(
    token_key: Pkcs11SealKey, pdf: bytes, keyring: Keyring
) -> None:
    # As if the HSM had restarted under the cached session and handles.
    seal_pdf(pdf, token_key, reason="x")
    _my_session(token_key).session.close()
    assert verify(token_key.certificate, DATA, sign(token_key, DATA))
    seal_pdf(pdf, token_key, reason="x")
    _my_session(token_key).session.close()
    [status] = validate_pdf(seal_pdf(pdf, token_key, reason="x"), [keyring.ca_certificate])
    assert status.intact and status.valid and status.trusted
    assert verify(token_key.certificate, DATA, sign(token_key, DATA))


def test_a_forked_child_signs_with_its_own_sessions(token_key: Pkcs11SealKey) -> None:
    sign(token_key, DATA)  # the parent holds sessions before the fork
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; the child only signs.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = 0 if verify(token_key.certificate, DATA, sign(token_key, DATA)) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's sessions survived the child.
    assert verify(token_key.certificate, DATA, sign(token_key, DATA))


def test_seal_time_with_the_token_key(token_key: Pkcs11SealKey, pdf: bytes) -> None:
    seal_pdf(pdf, token_key, reason="warm-up")
    durations = []
    for index in range(50):
        start = time.perf_counter()
        seal_pdf(pdf, token_key, reason=f"Nr. {index}")
        durations.append(time.perf_counter() - start)
    median = statistics.median(durations)
    print(f"\nPAdES seal with the SoftHSM2 key: median {median * 1000:.1f} ms over 50")
    # Generous: NOTES measured ~30 ms; a login or a key search per seal would still pass,
    # but a dry-run signature or a re-parse per seal on a slow machine should not.
    assert median < 0.5


def _my_session(key: Pkcs11SealKey) -> TokenSession:
    session = current_session(key.module_path, key.token_label)
    assert session is not None
    return session


def test_signed_json_receipt_with_the_token_key(token_key: Pkcs11SealKey, keyring: Keyring) -> None:
    from signing.jws import sign_json, verify_json

    payload = {"receipt": {"opened_by": "756.1234.5678.97"}, "entry_hash": "ab" * 32}
    token = sign_json(token_key, payload)
    assert verify_json(token, [keyring.ca_certificate]) == payload
    header, body, signature = token.split(".")
    forged = f"{header}.{body[:-2]}AA.{signature}"
    with pytest.raises(ValueError, match="not a valid signed receipt"):
        verify_json(forged, [keyring.ca_certificate])
