"""Making a seal key inside a PKCS#11 token: the key pair is generated in the token, its
certificate issued by the keyring's CA and stored in the token beside it."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing.keys import Keyring, issue_certificate_for_public_key
from signing.pkcs11_keys import Pkcs11SealKey, unwrap_ec_point
from signing.pkcs11_sessions import read_write_session


def generate_token_key(
    module_path: str,
    token_label: str,
    pin: str,
    key_label: str,
    keyring: Keyring,
    common_name: str,
    organisation: str,
) -> Pkcs11SealKey:
    """Generate an EC P-256 key pair inside the token and issue its certificate with the CA.

    The private key is sensitive and not extractable: it never leaves the token. The
    certificate is stored in the token with the key's label and id, so that
    ``pkcs11:token=<token_label>;object=<key_label>`` finds both. A label already in use is
    refused rather than duplicated.
    """
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters
    from pkcs11.util.x509 import decode_x509_certificate

    if not key_label:
        raise ValueError("the key needs a label")
    if keyring.ca_key is None:
        raise ValueError("the keyring has no CA private key, so it cannot issue certificates")
    with read_write_session(module_path, token_label, pin) as session:
        if list(session.get_objects({Attribute.LABEL: key_label})):
            raise ValueError(
                f"token {token_label!r} already holds objects labelled {key_label!r}: "
                "choose another label, or load that key with load_seal"
            )
        parameters = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        object_id = secrets.token_bytes(16)
        public, private = parameters.generate_keypair(
            store=True,
            label=key_label,
            id=object_id,
            public_template={Attribute.VERIFY: True},
            private_template={
                Attribute.SIGN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
            },
        )
        try:
            point = unwrap_ec_point(bytes(public[Attribute.EC_POINT]))
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            certificate = issue_certificate_for_public_key(
                keyring, public_key, common_name, organisation
            )
            template = decode_x509_certificate(certificate.public_bytes(serialization.Encoding.DER))
            template.update(
                {
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: key_label,
                    Attribute.ID: object_id,
                }
            )
            session.create_object(template)
        except BaseException:
            # No half-made seal in the token: a key without certificate under a taken label.
            for handle in (private, public):
                try:
                    handle.destroy()
                except Exception:  # noqa: S112 - the original error matters, not this one
                    continue
            raise
    return Pkcs11SealKey(
        module_path=module_path,
        token_label=token_label,
        key_label=key_label,
        pin=pin,
        certificate=certificate,
        chain=(keyring.ca_certificate,),
    )
