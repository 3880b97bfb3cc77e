"""The portal's own RFC 3161 time-stamping (signing.timestamps.embedded_tsa), in a module of
its own so that pyHanko loads only when something is stamped."""

from __future__ import annotations

import datetime as dt

from asn1crypto import algos, cms, core, tsp
from cryptography.hazmat.primitives import hashes
from pyhanko.sign.general import as_signing_certificate, simple_cms_attribute
from pyhanko.sign.timestamps import DummyTimeStamper

from signing.certificates import to_asn1
from signing.seal_key import SealKey
from signing.timestamps import EMBEDDED_POLICY


class PortalTimeStamper(DummyTimeStamper):
    """pyHanko's local TSA, signing with the portal's EC key.

    pyHanko's `DummyTimeStamper` builds real RFC 3161 tokens, but signs with RSA only and parses
    its key again for every token (~140 ms for RSA-3072 here). This signs with a P-256
    `SealKey` instead (a key file or a key in a token), under the portal's own policy; the
    token is otherwise pyHanko's.
    """

    def __init__(self, key: SealKey) -> None:
        super().__init__(
            tsa_cert=to_asn1(key.certificate),
            tsa_key=None,  # type: ignore[arg-type]  # unused: _sign_tst_info signs with `key`
            certs_to_embed=[to_asn1(c) for c in key.chain],  # type: ignore[arg-type]
        )
        self._key = key

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
        return self._key.sign(signed_attrs.dump()), signed_attrs

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
