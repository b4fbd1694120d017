"""Key files: password-protected at rest, loading fails clearly without the right password."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from tessera_like.__main__ import main
from tessera_like.crypto.keyfile import load_key_pair, read_password_file, write_key_files
from tessera_like.errors import KeyFileError
from tessera_like.types import KeyPair

FAST_N = 2**14


def test_round_trip_with_password(tmp_path: Path) -> None:
    pair = KeyPair.generate()
    pub, key = write_key_files(tmp_path, "node1", "correct horse", pair=pair, scrypt_n=FAST_N)
    assert pub.read_text().strip() == base64.b64encode(pair.public).decode()
    document = json.loads(key.read_text())
    assert document["type"] == "scrypt-aes256gcm" and document["data"]["kdf"] == "scrypt"
    assert base64.b64encode(pair.private_bytes()).decode() not in key.read_text()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    loaded = load_key_pair(key, "correct horse", pub)
    assert loaded.public == pair.public and loaded.private_bytes() == pair.private_bytes()


def test_wrong_password_does_not_load(tmp_path: Path) -> None:
    _, key = write_key_files(tmp_path, "k", "right", scrypt_n=FAST_N)
    with pytest.raises(KeyFileError, match="wrong password"):
        load_key_pair(key, "wrong")


def test_missing_password_does_not_load(tmp_path: Path) -> None:
    _, key = write_key_files(tmp_path, "k", "right", scrypt_n=FAST_N)
    with pytest.raises(KeyFileError, match="password-protected and no password was given"):
        load_key_pair(key, None)


@pytest.mark.parametrize("field", ["n", "salt", "publicKey"])
def test_edited_parameters_fail_authentication(tmp_path: Path, field: str) -> None:
    _, key = write_key_files(tmp_path, "k", "pw", scrypt_n=FAST_N)
    document = json.loads(key.read_text())
    if field == "n":
        document["data"]["n"] = FAST_N * 2
    elif field == "salt":
        document["data"]["salt"] = base64.b64encode(b"0" * 16).decode()
    else:
        document["publicKey"] = KeyPair.generate().public_b64
    key.write_text(json.dumps(document))
    with pytest.raises(KeyFileError):
        load_key_pair(key, "pw")


def test_unencrypted_only_on_request_and_pub_file_checked(tmp_path: Path) -> None:
    pub, key = write_key_files(tmp_path, "dev", None)
    assert json.loads(key.read_text())["type"] == "unlocked"
    assert load_key_pair(key, None, pub).public_b64 == pub.read_text().strip()
    pub.write_text(KeyPair.generate().public_b64 + "\n")
    with pytest.raises(KeyFileError, match="does not match"):
        load_key_pair(key, None, pub)


def test_refuses_to_overwrite_and_bad_json(tmp_path: Path) -> None:
    write_key_files(tmp_path, "k", None)
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_files(tmp_path, "k", None)
    (tmp_path / "broken.key").write_text("{not json")
    with pytest.raises(KeyFileError, match="not valid JSON"):
        load_key_pair(tmp_path / "broken.key", None)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_key_pair(tmp_path / "absent.key", None)


def test_keygen_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    assert main(["keygen", "--out", str(tmp_path / "keys"), "--name", "node1", "--password-file", str(password)]) == 0
    printed = capsys.readouterr().out.strip()
    assert (tmp_path / "keys" / "node1.pub").read_text().strip() == printed
    assert read_password_file(password) == "s3cret"
    pair = load_key_pair(tmp_path / "keys" / "node1.key", "s3cret", tmp_path / "keys" / "node1.pub")
    assert pair.public_b64 == printed
    assert main(["keygen", "--out", str(tmp_path / "keys"), "--name", "node2", "--no-password"]) == 0
    assert load_key_pair(tmp_path / "keys" / "node2.key", None).public_b64


def test_keygen_cli_without_password_choice_refuses_when_not_interactive(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["keygen", "--out", str(tmp_path)]) == 2
    assert "--no-password" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
