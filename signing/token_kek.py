"""A key-encryption key inside a PKCS#11 token (an HSM in production, SoftHSM2 in the tests).

An AES-256 key, sensitive and not extractable, that wraps and unwraps the per-object data keys
inside the token; only the data keys pass through it. The wrapping is RFC 3394
(CKM_AES_KEY_WRAP), exactly what storage.encryption.KeyEncryptionKey does in memory, so both are
one `WrappingKey` to their callers, and a KEK imported into the token (`import_kek`) unwraps
every data key it wrapped before: moving the KEK rewrites no object.

Named by ``pkcs11:token=<label>;object=<key label>`` (signing.pkcs11_refs), opened with the PIN
in PORTAL_PKCS11_PIN. Sessions, logins, threads and fork() are signing.pkcs11_sessions' business,
as for seal keys. The key id (recorded with every wrapped key) is the key's CKA_ID in hex:
`import_kek` gives it the in-memory key's id, so rows and messages keep naming the same key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from signing.pkcs11_modules import pin_from_env
from signing.pkcs11_refs import Pkcs11Ref, parse_pkcs11_ref
from signing.pkcs11_sessions import (
    TokenReference,
    TokenSession,
    read_write_session,
    with_session,
)

# What a token says when a wrapped key does not unwrap under the KEK: SoftHSM2 says
# GeneralError, others the specific codes. Named, because pkcs11 is imported lazily.
_NOT_UNWRAPPABLE = frozenset(
    {
        "GeneralError",
        "WrappedKeyInvalid",
        "WrappedKeyLenRange",
        "EncryptedDataInvalid",
        "EncryptedDataLenRange",
        "DataInvalid",
        "DataLenRange",
    }
)
_KEY_ID_BYTES = 8  # 16 hex characters, like the in-memory key's id


@dataclass(frozen=True)
class Pkcs11KeyEncryptionKey:
    """A `WrappingKey` (storage.encryption) whose key stays inside a PKCS#11 token."""

    module_path: str
    token_label: str
    key_label: str
    pin: str = field(repr=False)
    key_id: str

    def wrap(self, data_key: bytes) -> bytes:
        def action(state: TokenSession) -> bytes:
            from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

            kek = state.secret_key(self.key_label)
            with state.lock:
                # C_WrapKey wraps key objects, not bytes: the data key becomes a session object
                # (gone with the session at the latest) for the moment of wrapping.
                temporary = state.session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.AES,
                        Attribute.VALUE: data_key,
                        Attribute.TOKEN: False,
                        Attribute.SENSITIVE: False,
                        Attribute.EXTRACTABLE: True,
                    }
                )
                try:
                    return bytes(kek.wrap_key(temporary, mechanism=Mechanism.AES_KEY_WRAP))
                finally:
                    temporary.destroy()

        return with_session(self._reference(), action)

    def unwrap(self, wrapped_key: bytes) -> bytes:
        def action(state: TokenSession) -> bytes:
            from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, PKCS11Error

            kek = state.secret_key(self.key_label)
            with state.lock:
                try:
                    unwrapped = kek.unwrap_key(
                        ObjectClass.SECRET_KEY,
                        KeyType.AES,
                        wrapped_key,
                        mechanism=Mechanism.AES_KEY_WRAP,
                        template={
                            Attribute.TOKEN: False,
                            Attribute.SENSITIVE: False,
                            Attribute.EXTRACTABLE: True,
                        },
                    )
                except PKCS11Error as error:
                    if type(error).__name__ not in _NOT_UNWRAPPABLE:
                        raise
                    raise ValueError(
                        f"the wrapped key does not unwrap under KEK {self.key_id} "
                        f"in token {self.token_label!r}"
                    ) from None
                try:
                    return bytes(unwrapped[Attribute.VALUE])
                finally:
                    unwrapped.destroy()

        return with_session(self._reference(), action)

    def derive_legacy_key(self, info: bytes) -> bytes:
        raise LookupError(
            f"a row secret of format 1 needs the KEK's own bytes, which never leave token "
            f"{self.token_label!r}: with the old KEK still configured, run `portal keys "
            "reseal-secrets` (import-kek does it), then move the KEK"
        )

    def _reference(self) -> TokenReference:
        return TokenReference(self.module_path, self.token_label, self.pin)


def load_token_kek(ref: str) -> Pkcs11KeyEncryptionKey:
    """Find the KEK a reference names and check that it can wrap and unwrap AES keys."""
    parsed = _parse(ref)
    pin = pin_from_env(parsed.token_label)
    reference = TokenReference(parsed.module_path, parsed.token_label, pin)

    def action(state: TokenSession) -> str:
        from pkcs11 import Attribute, KeyType

        key = state.secret_key(parsed.object_label)
        with state.lock:
            key_type = key[Attribute.KEY_TYPE]
            can_wrap, can_unwrap = key[Attribute.WRAP], key[Attribute.UNWRAP]
            identifier = bytes(key[Attribute.ID] or b"")
        if key_type != KeyType.AES or not (can_wrap and can_unwrap):
            raise ValueError(
                f"key {parsed.object_label!r} in token {parsed.token_label!r} is not an AES key "
                "allowed to wrap and unwrap (CKA_WRAP, CKA_UNWRAP)"
            )
        # A key made by other tools may have no CKA_ID: its label names it then.
        return identifier.hex()[:32] if identifier else f"pkcs11:{parsed.object_label}"[:32]

    key_id = with_session(reference, action)
    return Pkcs11KeyEncryptionKey(
        parsed.module_path, parsed.token_label, parsed.object_label, pin, key_id
    )


def import_kek(ref: str, key: bytes, key_id: str) -> Pkcs11KeyEncryptionKey:
    """Put an existing KEK's bytes into the token, not extractable, under the reference's label.

    `key_id` (the in-memory key's id, hex) becomes the object's CKA_ID.
    """
    if len(key) != 32:
        raise ValueError(f"key-encryption key must be 32 bytes, got {len(key)}")
    _create(ref, bytes.fromhex(key_id), key)
    return load_token_kek(ref)


def create_token_kek(ref: str) -> Pkcs11KeyEncryptionKey:
    """Generate a new AES-256 KEK inside the token (for a new instance: nothing to import)."""
    _create(ref, secrets.token_bytes(_KEY_ID_BYTES), None)
    return load_token_kek(ref)


def _create(ref: str, identifier: bytes, value: bytes | None) -> None:
    """Store the given key bytes, or generate them inside the token when `value` is None."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    parsed = _parse(ref)
    pin = pin_from_env(parsed.token_label)
    template = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.WRAP: True,
        Attribute.UNWRAP: True,
        # Wrapping only: the KEK never encrypts data itself.
        Attribute.ENCRYPT: False,
        Attribute.DECRYPT: False,
        Attribute.LABEL: parsed.object_label,
        Attribute.ID: identifier,
    }
    with read_write_session(parsed.module_path, parsed.token_label, pin) as session:
        if list(session.get_objects({Attribute.LABEL: parsed.object_label})):
            raise ValueError(
                f"token {parsed.token_label!r} already holds objects labelled "
                f"{parsed.object_label!r}: choose another label"
            )
        if value is None:
            session.generate_key(KeyType.AES, 256, store=True, template=template)
        else:
            template.update(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.AES,
                    Attribute.VALUE: value,
                }
            )
            session.create_object(template)


def _parse(ref: str) -> Pkcs11Ref:
    return parse_pkcs11_ref(ref, what="KEK", object_type="secret-key")
