"""A SoftHSM2 token for tests, in a folder of the test session, never in the system's store.

SoftHSM2 reads SOFTHSM2_CONF once, when the module is first initialised in a process, and it
sees only the tokens that existed at that moment: a token directory or token created later is
invisible to that process. So a test session uses ONE token directory, set up by the first
call here before anything loads the module: wrap it in a session-scoped fixture (see
tests/unit/signing/conftest.py), and share that fixture instead of calling this again with
another folder. Later calls with the same label return the same token; a new label is only
possible while no test has loaded the module yet.

When softhsm2-util or the module is missing the tests skip, loudly; with
PORTAL_REQUIRE_SERVICES=1 (CI) that is a failure instead: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE = os.environ.get("PORTAL_REQUIRE_SERVICES") == "1"
SO_PIN = "5678"
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class SoftHsmToken:
    """What a test needs to reach the token (as the session fixture hands it out)."""

    module_path: str
    conf_path: str
    label: str
    pin: str


# The one configuration of this process (see the module docstring).
_conf_path: Path | None = None
_tokens: dict[str, str] = {}  # label -> PIN


def softhsm_token(tmp_path: Path, label: str = "portal", pin: str = "1234") -> tuple[str, str]:
    """Initialise a SoftHSM2 token `label` with user PIN `pin`; return (module path, conf path).

    Sets SOFTHSM2_CONF for this process (and the processes it starts). Call it once per test
    session, from a session-scoped fixture, with a folder of the session.
    """
    global _conf_path
    module_path = os.environ.get("PORTAL_PKCS11_MODULE") or DEFAULT_MODULE
    util = shutil.which("softhsm2-util")
    if util is None:
        _unavailable("softhsm2-util is not installed (apt-get install -y softhsm2)")
    if not Path(module_path).is_file():
        _unavailable(f"the PKCS#11 module {module_path} is missing (apt-get install -y softhsm2)")
    if label in _tokens:
        if _tokens[label] != pin:
            pytest.fail(f"SoftHSM2 token {label!r} was made with another PIN in this session")
        assert _conf_path is not None
        return module_path, str(_conf_path)
    if _module_loaded(module_path):
        pytest.fail(
            f"SoftHSM2 token {label!r} asked for after the module was loaded: this process "
            "would never see it. Set up every token in the session fixture, before any test "
            "uses the module."
        )
    if _conf_path is None:
        tokens = tmp_path / "softhsm-tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        conf = tmp_path / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {tokens}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        _conf_path = conf
        os.environ["SOFTHSM2_CONF"] = str(conf)
    result = subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SOFTHSM2_CONF": str(_conf_path)},
        check=False,
    )
    if result.returncode != 0:
        _unavailable(f"softhsm2-util --init-token failed: {result.stderr.strip() or result.stdout}")
    _tokens[label] = pin
    return module_path, str(_conf_path)


def _module_loaded(module_path: str) -> bool:
    # python-pkcs11 keeps the modules it loaded; once loaded, the configuration is fixed.
    pkcs11 = sys.modules.get("pkcs11")
    return pkcs11 is not None and module_path in getattr(pkcs11, "_loaded", {})


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE:
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(f"SOFTHSM2 UNAVAILABLE, PKCS#11 TESTS SKIPPED: {reason}")
