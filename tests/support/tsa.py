"""A real, independent RFC 3161 time-stamping authority for the tests: `openssl ts -reply`
behind a small HTTP server on 127.0.0.1 (RFC 3161 §3.4: a DER TimeStampReq posted as
application/timestamp-query, the TimeStampResp back as application/timestamp-reply).

Its CA and key are its own, not the portal's: the portal trusts it only through PORTAL_TSA_CA.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY = "1.3.6.1.4.1.99999.3161.1"  # a test policy; any OID does for `openssl ts`

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key.pem
signer_digest = sha256
default_policy = {policy}
other_policies = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass
class TestTsa:
    url: str
    folder: Path
    ca_file: Path  # the TSA's root: PORTAL_TSA_CA
    cert_file: Path
    requests: list[bytes] = field(default_factory=list)
    _server: Any = None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_tsa() -> TestTsa:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is needed for the tests' time-stamping authority")
    folder = Path(tempfile.mkdtemp(prefix="test-tsa-"))
    _write_keys(folder)
    (folder / "serial").write_text("01\n")
    config = folder / "tsa.cnf"
    config.write_text(_CONFIG.format(folder=folder, policy=POLICY))
    lock = threading.Lock()  # openssl counts serial numbers in a file
    requests: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            query = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415, "expected application/timestamp-query")
                return
            with lock, tempfile.TemporaryDirectory(dir=folder) as work:
                (Path(work) / "q.tsq").write_bytes(query)
                done = subprocess.run(
                    [
                        "openssl",
                        "ts",
                        "-reply",
                        "-config",
                        str(config),
                        "-queryfile",
                        f"{work}/q.tsq",
                        "-out",
                        f"{work}/r.tsr",
                    ],
                    capture_output=True,
                    timeout=30,
                )
                reply = (Path(work) / "r.tsr").read_bytes() if done.returncode == 0 else None
            if reply is None:
                self.send_error(400, done.stderr.decode(errors="replace")[:200])
                return
            requests.append(query)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the test output is not for access logs

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True).start()
    return TestTsa(
        url=f"http://127.0.0.1:{server.server_address[1]}/tsa",
        folder=folder,
        ca_file=folder / "ca.pem",
        cert_file=folder / "tsa.pem",
        requests=requests,
        _server=server,
    )


def _write_keys(folder: Path) -> None:
    """A root CA and an RSA time-stamping certificate it issued (RFC 3161 §2.3)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name("Test Time-Stamping Root CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("Test TSA (openssl ts)"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "tsa.pem").write_bytes(tsa.public_bytes(pem))
    (folder / "tsa.key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Einwohnerportal tests"),
        ]
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def tsa_root_file(runtime: Any, folder: Path) -> Path:
    """The PEM file of the root that the portal's time-stamps chain to: the test TSA's own
    (services profile, PORTAL_TSA_CA) or the portal's CA (its own TSA, embedded profile)."""
    if runtime.config.tsa_ca_file:
        return Path(runtime.config.tsa_ca_file)
    path = folder / "portal-ca.pem"
    path.write_bytes(runtime.keyring.ca_certificate.public_bytes(serialization.Encoding.PEM))
    return path


def check_pdf_timestamp(pdf: bytes, ca_file: Path, folder: Path) -> str:
    """PAdES B-T as outside tools see it: poppler's `pdfsig -dump` writes the signature's CMS,
    whose unsigned attribute signatureTimeStampToken (RFC 3161 Appendix A) must verify with
    `openssl ts -verify` over the signature value. Returns openssl's "Time stamp:" line."""
    from asn1crypto import cms

    (folder / "signed.pdf").write_bytes(pdf)
    subprocess.run(["pdfsig", "-dump", "signed.pdf"], cwd=folder, check=True, capture_output=True)
    signed = cms.ContentInfo.load((folder / "signed.pdf.sig0").read_bytes())["content"]
    [signer] = signed["signer_infos"]
    tokens = [
        attribute["values"][0]
        for attribute in signer["unsigned_attrs"] or []
        if attribute["type"].native == "signature_time_stamp_token"
    ]
    assert len(tokens) == 1, "the signature carries no time-stamp token (PAdES B-B, not B-T)"
    (folder / "signature.bin").write_bytes(signer["signature"].native)
    (folder / "token.der").write_bytes(tokens[0].dump())
    verified = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "signature.bin", "-in", "token.der", "-token_in",
         "-CAfile", str(ca_file)],
        cwd=folder, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    shown = subprocess.run(
        ["openssl", "ts", "-reply", "-in", "token.der", "-token_in", "-token_out", "-text"],
        cwd=folder, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("Time stamp:")]
    return line
