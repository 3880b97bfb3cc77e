"""X.509 certificates of the portal's private CA and of the seals it issues; a certificate's
fingerprint (the key id) and its asn1crypto form (what pyHanko takes)."""

from __future__ import annotations

import datetime as dt
import hashlib

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

CA_COMMON_NAME = "Einwohnerportal Luzern Root CA"
SEAL_COMMON_NAME = "Einwohnerportal Luzern Siegel"
ORGANISATION = "Kanton Luzern"
COUNTRY = "CH"

_CA_LIFETIME = dt.timedelta(days=20 * 365 + 5)
_SEAL_LIFETIME = dt.timedelta(days=5 * 365 + 1)
# Back-date notBefore so that a validator whose clock runs slightly behind ours does not
# reject a certificate (and every seal made with it) as "not yet valid".
_CLOCK_SKEW = dt.timedelta(minutes=10)
# id-kp-documentSigning (RFC 9336): says what the seal is for; Adobe and pyHanko accept it.
_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """Return the lowercase hex SHA-256 of the certificate's DER encoding (a seal's key id)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """The same certificate as asn1crypto's object, the form pyHanko works with."""
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def subject_name(common_name: str, organisation: str) -> x509.Name:
    """Return the distinguished name CN=…, O=…, C=CH."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
        ]
    )


def build_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Generate the root CA's key and self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = subject_name(CA_COMMON_NAME, ORGANISATION)
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _CA_LIFETIME)
        # path_length=0: the CA only ever issues end-entity seals, never sub-CAs.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def build_seal_certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """Issue an end-entity seal certificate for `key`, signed by the CA."""
    return build_seal_certificate_for_public_key(subject, key.public_key(), ca_certificate, ca_key)


def build_seal_certificate_for_public_key(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """Issue an end-entity seal certificate for a public key whose private half lives elsewhere.

    E.g. in a PKCS#11 token, which never lets the private key out.
    """
    return _end_entity(
        subject,
        public_key,
        ca_certificate,
        ca_key,
        _key_usage(digital_signature=True, content_commitment=True),
        x509.ExtendedKeyUsage([_DOCUMENT_SIGNING]),
        eku_critical=False,
    )


def build_tsa_certificate(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    """Issue the certificate of a time-stamping key (RFC 3161 §2.3), signed by the CA."""
    # RFC 3161 §2.3: a TSA's certificate has exactly this one purpose, marked critical;
    # `openssl ts -verify` and pyHanko refuse tokens from a certificate without it.
    return _end_entity(
        subject,
        public_key,
        ca_certificate,
        ca_key,
        _key_usage(digital_signature=True),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
        eku_critical=True,
    )


def _end_entity(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key_usage: x509.KeyUsage,
    extended_key_usage: x509.ExtendedKeyUsage,
    *,
    eku_critical: bool,
) -> x509.Certificate:
    """An end-entity certificate issued by the portal CA; only the key's purposes differ."""
    now = dt.datetime.now(dt.UTC)
    not_after = min(now + _SEAL_LIFETIME, ca_certificate.not_valid_after_utc)
    ca_ski = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(extended_key_usage, critical=eku_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
