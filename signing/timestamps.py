"""RFC 3161 time-stamps: from a TSA over HTTP, or from the portal's own time-stamping key; and
the check of a token against the digest it should cover."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps import DummyTimeStamper, HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.keys import SealKey

TSA_COMMON_NAME = "Einwohnerportal interner Zeitstempeldienst (nicht qualifiziert)"
# The policy under which the portal's own TSA issues tokens (RFC 3161 §2.4.2 requires one):
# an OID of the UUID arc 2.25 (ITU-T X.667), which needs no registration.
EMBEDDED_POLICY = "2.25.133461962886874451273324783727333395402"
EMBEDDED = "embedded"


class PortalTimeStamper(DummyTimeStamper):
    """pyHanko's local TSA, signing with the portal's EC key.

    pyHanko's `DummyTimeStamper` builds real RFC 3161 tokens, but signs with RSA only and parses
    its key again for every token (~140 ms for RSA-3072 here). This signs with the parsed P-256
    key instead, under the portal's own policy; the token is otherwise pyHanko's.
    """

    def __init__(self, key: SealKey) -> None:
        super().__init__(
            tsa_cert=_to_asn1(key.certificate),
            tsa_key=None,  # type: ignore[arg-type]  # unused: _sign_tst_info signs with `key`
            certs_to_embed=[_to_asn1(c) for c in key.chain],  # type: ignore[arg-type]
        )
        self._key = key.private_key

    def _build_tst_info(
        self, message_imprint: tsp.MessageImprint, dt: dt.datetime, req: tsp.TimeStampReq
    ) -> tsp.TSTInfo:
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(EMBEDDED_POLICY)
        return info

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: dt.datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        # The attributes pyHanko's DummyTimeStamper signs, signed with ECDSA.
        digest = hashes.Hash(hashes.SHA256())
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                simple_cms_attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        return self._key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256())), signed_attrs

    def request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        if req["message_imprint"]["hash_algorithm"]["algorithm"].native != "sha256":
            raise ValueError("the portal's time-stamping service takes SHA-256 imprints only")
        return super().request_tsa_response(req)

    def _build_signed_data(
        self,
        tst_info_data: bytes,
        md_algorithm: str,
        signature: bytes,
        signed_attrs: cms.CMSAttributes,
    ) -> dict[str, object]:
        signed_data = super()._build_signed_data(
            tst_info_data, md_algorithm, signature, signed_attrs
        )
        [signer_info] = signed_data["signer_infos"]  # type: ignore[misc]
        signer_info["signature_algorithm"] = algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_ecdsa"}
        )
        return signed_data


@dataclass(frozen=True)
class TimeStampingAuthority:
    """Who time-stamps for the portal. `stamper` is pyHanko's client interface, so a PDF
    seal takes it as it is; `source` is "embedded" or the TSA's URL; `trust_roots` are the
    roots its tokens chain to."""

    stamper: TimeStamper
    source: str
    trust_roots: tuple[x509.Certificate, ...]

    def token(self, digest: bytes) -> bytes:
        """An RFC 3161 TimeStampToken (CMS ContentInfo, DER) over a SHA-256 digest."""
        # asyncio.run: callers are plain sync code (jobs, the CLI), with no loop running.
        content_info = asyncio.run(self.stamper.async_timestamp(digest, "sha256"))
        return bytes(content_info.dump())


def embedded_tsa(key: SealKey) -> TimeStampingAuthority:
    """The portal's own TSA, its key from signing.keys.load_or_create_tsa_key."""
    return TimeStampingAuthority(PortalTimeStamper(key), EMBEDDED, tuple(key.chain[-1:]))


def http_tsa(
    url: str, trust_roots: Sequence[x509.Certificate], timeout: float = 10.0
) -> TimeStampingAuthority:
    """A TSA that answers RFC 3161 requests over HTTP (RFC 3161 §3.4)."""
    return TimeStampingAuthority(HTTPTimeStamper(url, timeout=timeout), url, tuple(trust_roots))


@dataclass(frozen=True)
class TokenInfo:
    """What a time-stamp token says: when, and over which digest."""

    gen_time: dt.datetime
    algorithm: str
    digest: bytes
    signed_data: cms.SignedData


def read_token(token: bytes) -> TokenInfo:
    """The time and the digest in a token, unchecked; ValueError if it is not a token."""
    try:
        signed_data = cms.ContentInfo.load(token)["content"]
        info = signed_data["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        return TokenInfo(
            gen_time=info["gen_time"].native,
            algorithm=imprint["hash_algorithm"]["algorithm"].native,
            digest=imprint["hashed_message"].native,
            signed_data=signed_data,
        )
    except Exception as error:
        # asn1crypto fails on garbage with many kinds of error; it is not a token either way.
        raise ValueError(f"not a readable time-stamp token ({error})") from error


@dataclass(frozen=True)
class TokenCheck:
    """What a time-stamp token says, and whether it holds."""

    problem: str | None  # None: intact, valid, trusted and over the expected digest
    gen_time: dt.datetime | None = None
    tsa: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_tokens(
    tokens: Sequence[tuple[bytes, bytes]], trust_roots: Sequence[x509.Certificate]
) -> list[TokenCheck]:
    """Check each (token, expected SHA-256 digest): the signature, the TSA's certificate as
    of the token's time, and that the token covers that digest."""
    roots = [_to_asn1(c) for c in trust_roots]
    return asyncio.run(_check_all(tokens, roots))


async def _check_all(
    tokens: Sequence[tuple[bytes, bytes]], roots: list[asn1_x509.Certificate]
) -> list[TokenCheck]:
    return [await _check_one(token, digest, roots) for token, digest in tokens]


async def _check_one(token: bytes, digest: bytes, roots: list[asn1_x509.Certificate]) -> TokenCheck:
    try:
        info = read_token(token)
    except ValueError as error:
        return TokenCheck(str(error))
    gen_time = info.gen_time
    if info.algorithm != "sha256" or info.digest != digest:
        return TokenCheck(
            f"the token covers {info.algorithm} {info.digest.hex()}, not {digest.hex()}", gen_time
        )
    # As of the token's time: a TSA certificate that has expired since still vouches for
    # the tokens it made while valid. Revocation is not published by the portal's CA, and
    # offline nothing can be fetched; revocation a validator can see still counts.
    context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail", moment=gen_time
    )
    try:
        status = TimestampSignatureStatus(
            **await validate_tst_signed_data(info.signed_data, context, lambda _algo: digest)
        )
    except Exception as error:
        return TokenCheck(f"the token cannot be validated ({error})", gen_time)
    tsa = str(status.signing_cert.subject.native.get("common_name", ""))
    if not (status.intact and status.valid):
        return TokenCheck(f"the token's signature (by {tsa}) is not valid", gen_time, tsa)
    if not status.trusted:
        return TokenCheck(
            f"the token is signed by {tsa}, whose certificate does not chain to a trusted root "
            "(the portal's CA, or PORTAL_TSA_CA)",
            gen_time,
            tsa,
        )
    return TokenCheck(None, gen_time, tsa)


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
