"""Key files: `<name>.pub` (base64 public key) and `<name>.key` (JSON, private key).

The private key is encrypted at rest unless the user asks otherwise (`--no-password`):
scrypt (memory-hard; n=2**15, r=8, p=1 by default, 16-byte random salt) derives a 32-byte
key from the password, and AES-256-GCM (12-byte random nonce) seals the 32-byte X25519
private key, with the public key and the KDF parameters as associated data. A wrong
password, an edited parameter or a swapped public key all fail authentication.

`<name>.key`, encrypted::

    {"version": 1, "type": "scrypt-aes256gcm", "publicKey": "<b64>",
     "data": {"kdf": "scrypt", "n": 32768, "r": 8, "p": 1,
              "salt": "<b64>", "nonce": "<b64>", "sbytes": "<b64 sealed private key>"}}

and unencrypted: ``{"version": 1, "type": "unlocked", "publicKey": "<b64>",
"data": {"bytes": "<b64 private key>"}}``. (Tessera's files have the same outer shape,
with `argon2sbox` where we use scrypt.)
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tessera_like.crypto.keys import encode_key
from tessera_like.errors import KeyFileError
from tessera_like.types import KeyPair

KEYFILE_VERSION = 1
ENCRYPTED_TYPE = "scrypt-aes256gcm"
UNLOCKED_TYPE = "unlocked"
DEFAULT_SCRYPT_N = 2**15
DEFAULT_SCRYPT_R = 8
DEFAULT_SCRYPT_P = 1
MAX_SCRYPT_MEMORY = 512 * 1024 * 1024
_AAD_LABEL = b"tessera_like/v1/keyfile"


def _aad(public_b64: str, n: int, r: int, p: int, salt: bytes) -> bytes:
    params = json.dumps({"kdf": "scrypt", "n": n, "r": r, "p": p, "salt": base64.b64encode(salt).decode()},
                        sort_keys=True, separators=(",", ":"))
    return _AAD_LABEL + public_b64.encode() + params.encode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def key_file_json(pair: KeyPair, password: str | None, scrypt_n: int = DEFAULT_SCRYPT_N) -> dict[str, Any]:
    """The JSON document for `pair`; unencrypted only when `password` is None."""
    public_b64 = pair.public_b64
    if password is None:
        return {"version": KEYFILE_VERSION, "type": UNLOCKED_TYPE, "publicKey": public_b64,
                "data": {"bytes": base64.b64encode(pair.private_bytes()).decode()}}
    if not password:
        raise KeyFileError("refusing an empty password; use no password explicitly instead")
    salt, nonce = os.urandom(16), os.urandom(12)
    r, p = DEFAULT_SCRYPT_R, DEFAULT_SCRYPT_P
    sealed = AESGCM(_derive(password, salt, scrypt_n, r, p)).encrypt(
        nonce, pair.private_bytes(), _aad(public_b64, scrypt_n, r, p, salt))
    return {"version": KEYFILE_VERSION, "type": ENCRYPTED_TYPE, "publicKey": public_b64,
            "data": {"kdf": "scrypt", "n": scrypt_n, "r": r, "p": p,
                     "salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode(),
                     "sbytes": base64.b64encode(sealed).decode()}}


def write_key_files(out_dir: Path, name: str, password: str | None, pair: KeyPair | None = None,
                    scrypt_n: int = DEFAULT_SCRYPT_N) -> tuple[Path, Path]:
    """Write `<name>.pub` and `<name>.key` under `out_dir`; never overwrite. Returns both paths."""
    if not name or "/" in name or name.startswith("."):
        raise KeyFileError(f"invalid key name {name!r}")
    pair = pair or KeyPair.generate()
    out_dir.mkdir(parents=True, exist_ok=True)
    pub_path, key_path = out_dir / f"{name}.pub", out_dir / f"{name}.key"
    for path in (pub_path, key_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key")
    document = key_file_json(pair, password, scrypt_n)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    pub_path.write_text(pair.public_b64 + "\n", encoding="utf-8")
    return pub_path, key_path


def read_password_file(path: Path) -> str:
    """The password in `path`: its first line, without the line ending."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read password file {path}: {exc.strerror}") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def _b64(data: dict[str, Any], field: str, path: Path) -> bytes:
    value = data.get(field)
    if not isinstance(value, str):
        raise KeyFileError(f"key file {path}: field data.{field} missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"key file {path}: field data.{field} is not valid base64") from None


def _int(data: dict[str, Any], field: str, path: Path) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise KeyFileError(f"key file {path}: field data.{field} must be a positive integer")
    return value


def load_key_pair(private_key_file: Path, password: str | None,
                  public_key_file: Path | None = None) -> KeyPair:
    """Load and check a key pair; raises KeyFileError with a clear reason.

    A wrong or missing password fails here (never later), as does a `.pub` file that does
    not match the private key.
    """
    try:
        document = json.loads(private_key_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {private_key_file}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KeyFileError(f"key file {private_key_file} is not valid JSON") from None
    if not isinstance(document, dict) or document.get("version") != KEYFILE_VERSION:
        raise KeyFileError(f"key file {private_key_file}: unsupported format or version")
    data = document.get("data")
    public_b64 = document.get("publicKey")
    if not isinstance(data, dict) or not isinstance(public_b64, str):
        raise KeyFileError(f"key file {private_key_file}: fields publicKey and data are required")
    kind = document.get("type")
    if kind == UNLOCKED_TYPE:
        private = _b64(data, "bytes", private_key_file)
    elif kind == ENCRYPTED_TYPE:
        if password is None:
            raise KeyFileError(f"key file {private_key_file} is password-protected and no password was given")
        if data.get("kdf") != "scrypt":
            raise KeyFileError(f"key file {private_key_file}: unsupported kdf {data.get('kdf')!r}")
        n, r, p = (_int(data, f, private_key_file) for f in ("n", "r", "p"))
        if n & (n - 1) or n < 2**10 or 128 * n * r * p > MAX_SCRYPT_MEMORY:
            raise KeyFileError(f"key file {private_key_file}: scrypt parameters out of range")
        salt = _b64(data, "salt", private_key_file)
        nonce = _b64(data, "nonce", private_key_file)
        sealed = _b64(data, "sbytes", private_key_file)
        try:
            private = AESGCM(_derive(password, salt, n, r, p)).decrypt(nonce, sealed,
                                                                       _aad(public_b64, n, r, p, salt))
        except (InvalidTag, ValueError):
            raise KeyFileError(
                f"cannot unlock key file {private_key_file}: wrong password (or the file was altered)"
            ) from None
    else:
        raise KeyFileError(f"key file {private_key_file}: unknown type {kind!r}")
    try:
        pair = KeyPair.from_private_bytes(private)
    except ValueError:
        raise KeyFileError(f"key file {private_key_file}: malformed private key") from None
    if pair.public_b64 != public_b64:
        raise KeyFileError(f"key file {private_key_file}: publicKey does not match the private key")
    if public_key_file is not None:
        try:
            stated = public_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyFileError(f"cannot read public key file {public_key_file}: {exc.strerror}") from None
        if stated != encode_key(pair.public):
            raise KeyFileError(f"public key file {public_key_file} does not match {private_key_file}")
    return pair


__all__ = ["key_file_json", "load_key_pair", "read_password_file", "write_key_files"]
