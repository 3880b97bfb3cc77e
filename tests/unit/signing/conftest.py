"""Fixtures of the signing tests: one SoftHSM2 token for the whole test session.

SoftHSM2 reads its configuration once per process (see tests/support/softhsm.py), so the token
is session-scoped; tests that need keys of their own generate them in it under their own labels.
"""

from __future__ import annotations

import pytest

from tests.support.softhsm import SoftHsmToken, softhsm_token


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    label, pin = "portal", "1234"
    module_path, conf_path = softhsm_token(tmp_path_factory.mktemp("softhsm"), label, pin)
    return SoftHsmToken(module_path, conf_path, label, pin)
