"""Command line.

    python -m tessera_like --config manager.toml          serve Q2T + P2P until SIGTERM/SIGINT
    python -m tessera_like keygen --out DIR [--name NAME] [--password-file F | --no-password]

`keygen` writes `DIR/NAME.pub` (base64 public key) and `DIR/NAME.key` (JSON). Without
`--password-file` or `--no-password` it asks for a password on the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tessera_like.config import load_settings
from tessera_like.crypto.keyfile import read_password_file, write_key_files
from tessera_like.errors import PTMError


def _keygen(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tessera_like keygen",
                                     description="Generate a key pair for a tessera_like manager.")
    parser.add_argument("--out", required=True, type=Path, help="folder for NAME.pub and NAME.key")
    parser.add_argument("--name", default="key", help="file name stem (default: key)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-file", type=Path, help="encrypt the private key with this file's password")
    secret.add_argument("--no-password", action="store_true", help="store the private key unencrypted")
    args = parser.parse_args(argv)
    if args.no_password:
        password = None
    elif args.password_file is not None:
        password = read_password_file(args.password_file)
    elif sys.stdin.isatty():
        password = getpass.getpass("Password for the new key: ")
        if getpass.getpass("Repeat the password: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    else:
        print("error: give --password-file FILE, or --no-password to store the key unencrypted",
              file=sys.stderr)
        return 2
    pub_path, key_path = write_key_files(args.out, args.name, password)
    print(pub_path.read_text(encoding="utf-8").strip())
    print(f"wrote {pub_path} and {key_path}", file=sys.stderr)
    return 0


def _run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tessera_like",
                                     description="Run a tessera_like private transaction manager.")
    parser.add_argument("--config", type=Path, help="manager.toml (env TESSERA_LIKE_* overrides it)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from tessera_like.runtime import run_manager  # imports uvicorn and the apps only when serving

    return run_manager(settings)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "keygen":
            return _keygen(argv[1:])
        if argv and argv[0] == "run":
            argv = argv[1:]
        return _run(argv)
    except PTMError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
