"""The signing tests use the session's SoftHSM2 token from tests/conftest.py (`softhsm`)."""
