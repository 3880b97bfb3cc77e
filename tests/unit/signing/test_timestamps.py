"""RFC 3161 time-stamps from the portal's own TSA and from an independent one over HTTP
(`openssl ts -reply`, tests/support/tsa.py), each accepted by `openssl ts -verify`."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing import load_or_create_keyring, seal_pdf, validate_pdf
from signing.keys import Keyring
from signing.timestamp_checks import check_tokens, read_token
from signing.timestamps import TSA_COMMON_NAME, embedded_tsa, http_tsa
from signing.tsa_key import load_or_create_tsa_key
from tests.conftest import make_pdf

DIGEST = hashlib.sha256(b"Einwohnerportal").digest()


@pytest.fixture
def keyring(tmp_path):
    return load_or_create_keyring(tmp_path / "keys")


@pytest.fixture
def own_tsa(keyring, tmp_path):
    return embedded_tsa(load_or_create_tsa_key(tmp_path / "keys", keyring, TSA_COMMON_NAME))


def _pem(path, certificate):
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def openssl_verify(token: bytes, digest: bytes, ca_file, folder) -> subprocess.CompletedProcess:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    (folder / "token.der").write_bytes(token)
    return subprocess.run(
        ["openssl", "ts", "-verify", "-digest", digest.hex(), "-in", str(folder / "token.der"),
         "-token_in", "-CAfile", str(ca_file)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_the_portal_tsa_certificate_is_for_time_stamping_only(keyring, tmp_path):
    key = load_or_create_tsa_key(tmp_path / "keys", keyring, TSA_COMMON_NAME)
    certificate = key.certificate
    [name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert name.value == TSA_COMMON_NAME
    assert "nicht qualifiziert" in TSA_COMMON_NAME
    assert certificate.issuer == keyring.ca_certificate.subject
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    # Issued once: the next start loads the same key.
    again = load_or_create_tsa_key(tmp_path / "keys", keyring, TSA_COMMON_NAME)
    assert again.certificate == certificate


def test_without_the_ca_key_a_missing_tsa_key_is_not_made_up(keyring, tmp_path):
    offline = Keyring(keyring.ca_certificate, None, keyring.seal, dict(keyring.certificates))
    with pytest.raises(ValueError, match="PORTAL_TSA_URL"):
        load_or_create_tsa_key(tmp_path / "elsewhere", offline, TSA_COMMON_NAME)


def test_portal_tokens_verify_with_openssl_and_here(own_tsa, keyring, tmp_path):
    token = own_tsa.token(DIGEST)
    result = openssl_verify(
        token, DIGEST, _pem(tmp_path / "ca.pem", keyring.ca_certificate), tmp_path
    )
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr
    [check] = check_tokens([(token, DIGEST)], [keyring.ca_certificate])
    assert check.ok, check.problem
    assert check.tsa == TSA_COMMON_NAME
    assert abs(check.gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert read_token(token).digest == DIGEST


def test_a_token_is_refused_for_other_data_a_foreign_root_or_a_changed_byte(
    own_tsa, keyring, tmp_path
):
    token = own_tsa.token(DIGEST)
    other = hashlib.sha256(b"anders").digest()
    foreign = load_or_create_keyring(tmp_path / "foreign").ca_certificate
    flipped = bytearray(token)
    flipped[-10] ^= 0x01  # inside the ECDSA signature, the last element of the token
    checks = check_tokens(
        [(token, other), (token, DIGEST), (bytes(flipped), DIGEST), (b"garbage", DIGEST)],
        [foreign],
    )
    assert "covers" in checks[0].problem
    assert "does not chain to a trusted root" in checks[1].problem
    assert "not valid" in checks[2].problem or "cannot be validated" in checks[2].problem
    assert "not a readable time-stamp token" in checks[3].problem
    result = openssl_verify(
        token, other, _pem(tmp_path / "ca.pem", keyring.ca_certificate), tmp_path
    )
    assert result.returncode != 0


def test_an_independent_tsa_over_http(tsa_server, keyring, tmp_path):
    roots = x509.load_pem_x509_certificates(tsa_server.ca_file.read_bytes())
    tsa = http_tsa(tsa_server.url, roots)
    before = len(tsa_server.requests)
    token = tsa.token(DIGEST)
    assert len(tsa_server.requests) == before + 1
    result = openssl_verify(token, DIGEST, tsa_server.ca_file, tmp_path)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr
    trusted, untrusted = (
        check_tokens([(token, DIGEST), (token, DIGEST)], roots),
        check_tokens([(token, DIGEST)], [keyring.ca_certificate]),
    )
    assert trusted[0].ok and trusted[0].tsa == "Test TSA (openssl ts)"
    assert not untrusted[0].ok


def test_a_seal_with_a_timestamper_is_pades_b_t(own_tsa, keyring):
    pdf = make_pdf("Zustellnachweis")
    [stamped] = validate_pdf(
        seal_pdf(pdf, keyring.seal, reason="B-T", timestamper=own_tsa.stamper),
        [keyring.ca_certificate],
    )
    assert stamped.intact and stamped.valid and stamped.trusted
    assert stamped.timestamp_trusted
    assert abs(stamped.timestamped_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    [plain] = validate_pdf(seal_pdf(pdf, keyring.seal, reason="B-B"), [keyring.ca_certificate])
    assert plain.trusted and plain.timestamped_at is None and not plain.timestamp_trusted
