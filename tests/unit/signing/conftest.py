"""Fixtures of the signing tests: one SoftHSM2 token for the whole test session.

SoftHSM2 reads its configuration once per process (see tests/support/softhsm.py), so the token
is session-scoped; tests that need keys of their own generate them in it under their own labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.softhsm import softhsm_token


@dataclass(frozen=True)
class Token:
    module_path: str
    conf_path: str
    label: str
    pin: str


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Token:
    module_path, conf_path = softhsm_token(tmp_path_factory.mktemp("softhsm"))
    return Token(module_path, conf_path, label="portal", pin="1234")
