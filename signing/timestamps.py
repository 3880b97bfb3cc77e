"""RFC 3161 time-stamps: from a TSA over HTTP, or from the portal's own time-stamping key.

signing.timestamp_checks reads tokens and checks them against the digest they should cover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography import x509

from signing.seal_key import SealKey

if TYPE_CHECKING:
    from pyhanko.sign.timestamps import TimeStamper

TSA_COMMON_NAME = "Einwohnerportal interner Zeitstempeldienst (nicht qualifiziert)"
# The policy under which the portal's own TSA issues tokens (RFC 3161 §2.4.2 requires one):
# an OID of the UUID arc 2.25 (ITU-T X.667), which needs no registration.
EMBEDDED_POLICY = "2.25.133461962886874451273324783727333395402"
EMBEDDED = "embedded"


@dataclass(frozen=True)
class TimeStampingAuthority:
    """Who time-stamps for the portal. `stamper` is pyHanko's client interface, so a PDF
    seal takes it as it is; `source` is "embedded" or the TSA's URL; `trust_roots` are the
    roots its tokens chain to."""

    # Made on first use: pyHanko's signing half is not loaded by commands that never stamp.
    make_stamper: Callable[[], TimeStamper] = field(repr=False)
    source: str
    trust_roots: tuple[x509.Certificate, ...]

    @cached_property
    def stamper(self) -> TimeStamper:
        return self.make_stamper()

    def token(self, digest: bytes) -> bytes:
        """An RFC 3161 TimeStampToken (CMS ContentInfo, DER) over a SHA-256 digest."""
        # asyncio.run: callers are plain sync code (jobs, the CLI), with no loop running.
        content_info = asyncio.run(self.stamper.async_timestamp(digest, "sha256"))
        return bytes(content_info.dump())


def embedded_tsa(key: SealKey) -> TimeStampingAuthority:
    """The portal's own TSA, its key from signing.tsa_key.load_or_create_tsa_key."""

    def stamper() -> TimeStamper:
        from signing.portal_stamper import PortalTimeStamper

        return PortalTimeStamper(key)

    return TimeStampingAuthority(stamper, EMBEDDED, tuple(key.chain[-1:]))


def http_tsa(
    url: str, trust_roots: Sequence[x509.Certificate], timeout: float = 10.0
) -> TimeStampingAuthority:
    """A TSA that answers RFC 3161 requests over HTTP (RFC 3161 §3.4)."""

    def stamper() -> TimeStamper:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        return HTTPTimeStamper(url, timeout=timeout)

    return TimeStampingAuthority(stamper, url, tuple(trust_roots))
