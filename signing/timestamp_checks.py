"""RFC 3161 time-stamp tokens: what one says (time, digest), and whether it holds: intact,
signed by a TSA that chains to a trusted root, and over the expected digest."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.certificates import to_asn1


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
    roots = [to_asn1(c) for c in trust_roots]
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
