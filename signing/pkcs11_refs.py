"""References to keys in PKCS#11 tokens: ``pkcs11:token=<label>;object=<key label>`` (RFC 7512).

Values are percent-encoded; ``?module-path=/abs/lib.so`` overrides PORTAL_PKCS11_MODULE. The PIN
never goes into a reference (references get logged): it comes from PORTAL_PKCS11_PIN. Error
messages never echo the reference, which might hold a secret after all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from signing.pkcs11_modules import PIN_ENV, module_from_env

_PATH_ATTRIBUTES = frozenset({"token", "object", "type"})


@dataclass(frozen=True)
class Pkcs11Ref:
    token_label: str
    object_label: str
    module_path: str


def parse_pkcs11_ref(ref: str, *, what: str = "seal", object_type: str = "private") -> Pkcs11Ref:
    """Parse a reference to a key of RFC 7512 `object_type` ('private', 'secret-key').

    `what` names the key in messages ("seal", "KEK").
    """
    if not ref.startswith("pkcs11:"):
        raise ValueError(
            f"a pkcs11 {what} reference starts with 'pkcs11:' (pkcs11:token=<label>;object=<label>)"
        )
    body, _, query = ref[len("pkcs11:") :].partition("?")
    path = _attributes(body, ";", "path", what)
    options = _attributes(query, "&", "query", what)
    if {"pin-value", "pin-source"} & (set(path) | set(options)):
        raise ValueError(
            f"pkcs11 {what} reference: the PIN does not belong in a reference (references get "
            f"logged); set {PIN_ENV}"
        )
    unknown = sorted(set(path) - _PATH_ATTRIBUTES)
    if unknown:
        raise ValueError(
            f"pkcs11 {what} reference: unsupported attribute(s) {', '.join(unknown)} "
            "(use token=<label>;object=<key label>)"
        )
    if path.get("type", object_type) != object_type:
        raise ValueError(f"pkcs11 {what} reference: type must be {object_type!r}, if given")
    for required in ("token", "object"):
        if not path.get(required):
            raise ValueError(
                f"pkcs11 {what} reference: {required}= is missing "
                "(use pkcs11:token=<label>;object=<key label>)"
            )
    unknown = sorted(set(options) - {"module-path"})
    if unknown:
        raise ValueError(
            f"pkcs11 {what} reference: unsupported query attribute(s) {', '.join(unknown)}"
        )
    module_path = options.get("module-path") or module_from_env()
    if not module_path.startswith("/"):
        raise ValueError(f"pkcs11 {what} reference: module-path must be an absolute path")
    return Pkcs11Ref(path["token"], path["object"], module_path)


def _attributes(text: str, separator: str, part: str, what: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    if not text:
        return attributes
    for item in text.split(separator):
        name, equals, value = item.partition("=")
        name = name.strip().lower()
        if not equals or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
            raise ValueError(
                f"pkcs11 {what} reference: malformed {part} attribute (expected name=value)"
            )
        if name in attributes:
            raise ValueError(f"pkcs11 {what} reference: {name}= is given twice")
        if re.search(r"%(?![0-9A-Fa-f]{2})", value):
            raise ValueError(f"pkcs11 {what} reference: bad percent-encoding in {name}=")
        try:
            attributes[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise ValueError(f"pkcs11 {what} reference: {name}= is not UTF-8") from None
    return attributes
