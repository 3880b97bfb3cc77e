"""The keyring as the app and the CLI use it: created on first start, loaded afterwards."""

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from signing import (
    Keyring,
    certificate_fingerprint,
    issue_certificate,
    load_or_create_keyring,
    sign,
    verify,
)


@pytest.fixture(scope="module")
def keyring_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    load_or_create_keyring(folder)
    return folder


@pytest.fixture(scope="module")
def keyring(keyring_folder: Path) -> Keyring:
    return load_or_create_keyring(keyring_folder, create=False)


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "keys"
    shutil.copytree(folder, target)
    return target


def test_reloaded_keyring_has_the_same_seal(keyring_folder: Path, keyring: Keyring) -> None:
    again = load_or_create_keyring(keyring_folder)
    assert again.seal.key_id == keyring.seal.key_id
    assert again.ca_certificate == keyring.ca_certificate
    assert again.certificate(keyring.seal.key_id) == keyring.seal.certificate


def test_key_id_is_the_certificate_fingerprint(keyring: Keyring) -> None:
    key_id = keyring.seal.key_id
    assert key_id == certificate_fingerprint(keyring.seal.certificate)
    assert len(key_id) == 64 and key_id == key_id.lower()
    int(key_id, 16)


def test_certificates_say_who_and_what_for(keyring: Keyring) -> None:
    ca, seal = keyring.ca_certificate, keyring.seal.certificate
    assert ca.subject.rfc4514_string() == "C=CH,O=Kanton Luzern,CN=Einwohnerportal Luzern Root CA"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert seal.subject.rfc4514_string() == "C=CH,O=Kanton Luzern,CN=Einwohnerportal Luzern Siegel"
    assert seal.issuer == ca.subject
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    seal.verify_directly_issued_by(ca)
    assert keyring.seal.chain == (ca,)


def test_private_key_files_are_readable_by_the_owner_only(keyring_folder: Path) -> None:
    for name in ("ca.key.pem", "seal.key.pem"):
        assert stat.S_IMODE((keyring_folder / name).stat().st_mode) == 0o600
        assert b"BEGIN PRIVATE KEY" in (keyring_folder / name).read_bytes()


def test_missing_files_are_not_created_when_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ca.pem"):
        load_or_create_keyring(tmp_path, create=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_seal_key_is_named(keyring_folder: Path, tmp_path: Path) -> None:
    folder = _copy(keyring_folder, tmp_path)
    (folder / "seal.key.pem").unlink()
    with pytest.raises(FileNotFoundError, match="seal.key.pem"):
        load_or_create_keyring(folder, create=False)


def test_passphrase_encrypts_the_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", "correct horse battery staple")
    created = load_or_create_keyring(tmp_path)
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in (tmp_path / "seal.key.pem").read_bytes()
    assert stat.S_IMODE((tmp_path / "seal.key.pem").stat().st_mode) == 0o600

    reloaded = load_or_create_keyring(tmp_path, create=False)
    assert reloaded.seal.key_id == created.seal.key_id
    assert verify(reloaded.seal.certificate, b"x", sign(reloaded.seal, b"x"))

    monkeypatch.setenv("PORTAL_KEY_PASSPHRASE", "wrong")
    with pytest.raises(ValueError, match="seal.key.pem|ca.key.pem"):
        load_or_create_keyring(tmp_path, create=False)
    monkeypatch.delenv("PORTAL_KEY_PASSPHRASE")
    with pytest.raises(ValueError, match="PORTAL_KEY_PASSPHRASE"):
        load_or_create_keyring(tmp_path, create=False)


def test_retired_seal_still_verifies_old_signatures(keyring_folder: Path, tmp_path: Path) -> None:
    folder = _copy(keyring_folder, tmp_path)
    old = load_or_create_keyring(folder, create=False)
    old_signature = sign(old.seal, b"journal head 1")

    # Rotation as an operator does it: retire the certificate, drop the key, restart.
    (folder / "retired").mkdir()
    (folder / "seal.pem").rename(folder / "retired" / "2025.pem")
    (folder / "seal.key.pem").unlink()
    new = load_or_create_keyring(folder)

    assert new.seal.key_id != old.seal.key_id
    assert new.ca_certificate == old.ca_certificate
    retired = new.certificate(old.seal.key_id)
    assert verify(retired, b"journal head 1", old_signature)
    assert new.certificate(new.seal.key_id) == new.seal.certificate


def test_lost_seal_key_gives_a_new_seal_and_keeps_the_old_certificate(
    keyring_folder: Path, tmp_path: Path
) -> None:
    folder = _copy(keyring_folder, tmp_path)
    old = load_or_create_keyring(folder, create=False)
    (folder / "seal.key.pem").unlink()

    new = load_or_create_keyring(folder)

    assert new.seal.key_id != old.seal.key_id
    assert new.certificate(old.seal.key_id) == old.seal.certificate


def test_unknown_key_id_is_a_clear_key_error(keyring: Keyring) -> None:
    with pytest.raises(KeyError, match="no seal certificate with key id"):
        keyring.certificate("00" * 32)


def test_issued_certificate_chains_to_the_ca(keyring: Keyring) -> None:
    authority = issue_certificate(keyring, "Steueramt Luzern", "Kanton Luzern")
    certificate = authority.certificate
    assert certificate.subject.rfc4514_string() == "C=CH,O=Kanton Luzern,CN=Steueramt Luzern"
    certificate.verify_directly_issued_by(keyring.ca_certificate)
    assert authority.chain == (keyring.ca_certificate,)
    assert authority.key_id != keyring.seal.key_id
    assert verify(certificate, b"decision", sign(authority, b"decision"))


def test_only_certificates_means_no_issuing(keyring_folder: Path, tmp_path: Path) -> None:
    folder = _copy(keyring_folder, tmp_path)
    (folder / "ca.key.pem").unlink()  # production keeps the CA key offline
    keyring = load_or_create_keyring(folder, create=False)
    assert keyring.ca_key is None
    with pytest.raises(ValueError, match="no CA private key"):
        issue_certificate(keyring, "Gemeinde Kriens", "Gemeinde Kriens")


def test_processes_starting_at_once_share_one_keyring(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    script = (
        "import sys; from pathlib import Path; from signing import load_or_create_keyring; "
        "print(load_or_create_keyring(Path(sys.argv[1])).seal.key_id)"
    )
    root = Path(__file__).resolve().parents[3]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(folder)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    key_ids = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert key_ids == {load_or_create_keyring(folder, create=False).seal.key_id}
