"""The key-encryption key inside a PKCS#11 token: a real SoftHSM2 token, no mocks."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from signing.pkcs11_sessions import read_write_session
from signing.token_kek import create_token_kek, import_kek, load_token_kek
from storage.encryption import EncryptedObjects, KeyEncryptionKey, TamperedObject
from storage.objects import open_store
from storage.secrets import SecretBox
from tests.support.softhsm import SoftHsmToken as Token


@pytest.fixture
def token_env(softhsm: Token, monkeypatch: pytest.MonkeyPatch) -> Token:
    monkeypatch.setenv("PORTAL_PKCS11_MODULE", softhsm.module_path)
    monkeypatch.setenv("PORTAL_PKCS11_PIN", softhsm.pin)
    return softhsm


def _ref(token: Token, label: str) -> str:
    return f"pkcs11:token={token.label};object={label}"


def _label() -> str:
    return f"kek-{uuid.uuid4().hex[:8]}"  # one token for the session: a label per test


def test_a_kek_created_in_the_token_wraps_and_unwraps_there(token_env: Token) -> None:
    kek = create_token_kek(_ref(token_env, _label()))
    data_key = os.urandom(32)
    wrapped = kek.wrap(data_key)
    assert len(wrapped) == 40 and data_key not in wrapped
    assert kek.unwrap(wrapped) == data_key
    assert len(kek.key_id) == 16 and kek.pin not in repr(kek)
    with pytest.raises(ValueError, match="does not unwrap"):
        kek.unwrap(KeyEncryptionKey(os.urandom(32)).wrap(data_key))


def test_the_kek_never_leaves_the_token(token_env: Token) -> None:
    label = _label()
    create_token_kek(_ref(token_env, label))
    with read_write_session(token_env.module_path, token_env.label, token_env.pin) as session:
        [key] = session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}
        )
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.VALUE]


def test_an_imported_kek_is_interchangeable_with_the_one_in_memory(
    token_env: Token, tmp_path: Path
) -> None:
    local = KeyEncryptionKey(os.urandom(32))
    token = import_kek(_ref(token_env, _label()), local.key, local.key_id)
    assert token.key_id == local.key_id  # rows keep naming the same key
    data_key = os.urandom(32)
    assert token.wrap(data_key) == local.wrap(data_key)  # RFC 3394 in both
    assert token.unwrap(local.wrap(data_key)) == data_key

    # An object stored under the KEK in memory reads back through the token: nothing rewritten.
    store = open_store(f"file://{tmp_path / 'objects'}")
    stored = EncryptedObjects(store, local).put(io.BytesIO(b"Verfuegung " * 1000))
    with EncryptedObjects(store, token).open(stored.key, stored.wrapped_key) as chunks:
        assert b"".join(chunks) == b"Verfuegung " * 1000
    with pytest.raises(TamperedObject, match=token.key_id):
        EncryptedObjects(store, token).open(stored.key, os.urandom(40))

    # Row secrets: format 2 is readable either way; format 1 says how to reseal it.
    assert SecretBox(token).decrypt(SecretBox(local).encrypt(b"whsec_x")) == b"whsec_x"
    legacy = bytes.fromhex("01") + bytes(12) + bytes(16)
    with pytest.raises(LookupError, match="reseal-secrets"):
        SecretBox(token).decrypt(legacy)


def test_refs_and_labels_are_checked(token_env: Token) -> None:
    label = _label()
    create_token_kek(_ref(token_env, label))
    with pytest.raises(ValueError, match="already holds"):
        create_token_kek(_ref(token_env, label))
    with pytest.raises(LookupError, match="no secret key labelled"):
        load_token_kek(_ref(token_env, "no-such-kek"))
    with pytest.raises(ValueError, match="type must be 'secret-key'"):
        load_token_kek(_ref(token_env, label) + ";type=private")
    with pytest.raises(ValueError, match="PIN does not belong"):
        load_token_kek(_ref(token_env, label) + "?pin-value=1234")
    assert load_token_kek(_ref(token_env, label) + ";type=secret-key").key_label == label


def test_a_key_that_may_not_wrap_is_refused(token_env: Token) -> None:
    label = _label()
    with read_write_session(token_env.module_path, token_env.label, token_env.pin) as session:
        # An AES key for encrypting data, as another application might keep in the token.
        template = {Attribute.WRAP: False, Attribute.UNWRAP: False}
        session.generate_key(pkcs11.KeyType.AES, 256, label=label, store=True, template=template)
    with pytest.raises(ValueError, match="allowed to wrap"):
        load_token_kek(_ref(token_env, label))
