"""Manager configuration: `manager.toml` with `TESSERA_LIKE_*` environment overrides.

Precedence: keyword arguments > environment (`TESSERA_LIKE_Q2T_PORT=9101`, nested with
`__`: `TESSERA_LIKE_TLS__ENABLED=true`; lists and tables as JSON) > the TOML file >
defaults. Anything invalid fails at load with the field path in the message. Relative
paths in the file are relative to the file's directory.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tessera_like.errors import ConfigError
from tessera_like.store.dialects import check_db_url

DEFAULT_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024

_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("_FILE_DATA", default=None)


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(url: str, what: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ValueError(f"{what} must be an http:// or https:// URL, got {url!r}")
    return url


class KeyConfig(BaseModel):
    """One key pair: the `.pub` and `.key` files, and the password file if encrypted."""

    model_config = ConfigDict(extra="forbid")

    public_key_file: Path
    private_key_file: Path
    password_file: Path | None = None


class TlsSettings(BaseModel):
    """TLS for the P2P API. The server presents cert/key; clients verify with ca_file.

    With `client_auth`, the P2P server also requires client certificates signed by
    ca_file, and this manager presents cert/key as its client certificate (mutual TLS).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    client_auth: bool = False

    @model_validator(mode="after")
    def _files_when_enabled(self) -> TlsSettings:
        if self.enabled and (self.cert_file is None or self.key_file is None):
            raise ValueError("cert_file and key_file are required when TLS is enabled")
        if self.client_auth and (not self.enabled or self.ca_file is None):
            raise ValueError("client_auth needs TLS enabled and a ca_file")
        return self


class _FileSource(PydanticBaseSettingsSource):
    """The parsed TOML of the file being loaded (set by `load_settings`)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


class ManagerSettings(BaseSettings):
    """Everything a manager needs to run. See docs/manager-api.md for a full example."""

    model_config = SettingsConfigDict(env_prefix="TESSERA_LIKE_", env_nested_delimiter="__", extra="forbid")

    q2t_host: str = "127.0.0.1"
    q2t_port: int = Field(default=9101, ge=0, le=65535)
    q2t_socket: Path | None = None
    # Required when Q2T listens on TCP: its bearer token (created 0600 if missing; see tokenfile.py).
    q2t_token_file: Path | None = None
    p2p_host: str = "127.0.0.1"
    p2p_port: int = Field(default=9001, ge=0, le=65535)
    p2p_url: str | None = None
    peers: list[str] = Field(default_factory=list)
    use_peer_allow_list: bool = False
    keys: list[KeyConfig] = Field(min_length=1)
    always_send_to: list[str] = Field(default_factory=list)
    db_url: str = "sqlite:///tessera_like.db"
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, gt=0, le=1024 * 1024 * 1024)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    gossip_interval_seconds: float = Field(default=5.0, gt=0)
    peer_timeout_seconds: float = Field(default=10.0, gt=0)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Development networks only: Q2T /dev/snapshots, for its node's evm_snapshot / evm_revert
    # (tessera_like/snapshots.py; SQLite store). `privnet up --ordering local` turns it on.
    dev_snapshots: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)

    @field_validator("q2t_host")
    @classmethod
    def _q2t_on_loopback(cls, host: str) -> str:
        if not is_loopback_host(host):
            raise ValueError(f"the Q2T API binds to loopback only (127.0.0.1, ::1, localhost), not {host!r}; "
                             "use q2t_socket for a unix socket")
        return host

    @field_validator("db_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        url = url.strip()
        try:
            check_db_url(url)
        except ConfigError as exc:
            raise ValueError(exc.message.removeprefix("db_url: ")) from None
        return url

    @field_validator("p2p_url")
    @classmethod
    def _advertised_url(cls, url: str | None) -> str | None:
        return None if url is None else _check_url(url, "p2p_url")

    @field_validator("peers")
    @classmethod
    def _peer_urls(cls, urls: list[str]) -> list[str]:
        return [_check_url(u, "each peer") for u in urls]

    @field_validator("always_send_to")
    @classmethod
    def _keys_b64(cls, keys: list[str]) -> list[str]:
        for key in keys:
            try:
                raw = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{key!r} is not valid base64") from None
            if len(raw) != 32:
                raise ValueError(f"{key!r} does not decode to a 32-byte public key")
        return keys

    @property
    def advertised_p2p_url(self) -> str:
        """`p2p_url`, else derived from the P2P host and port (https when TLS is on)."""
        if self.p2p_url:
            return self.p2p_url
        host = "127.0.0.1" if self.p2p_host in ("0.0.0.0", "::", "") else self.p2p_host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls.enabled else 'http'}://{host}:{self.p2p_port}"

    def resolve_paths(self, base: Path) -> ManagerSettings:
        """A copy with relative file paths made relative to `base` (the config's folder)."""

        def fix(path: Path | None) -> Path | None:
            return None if path is None or path.is_absolute() else base / path

        keys = [KeyConfig(public_key_file=fix(k.public_key_file) or k.public_key_file,
                          private_key_file=fix(k.private_key_file) or k.private_key_file,
                          password_file=fix(k.password_file) or k.password_file) for k in self.keys]
        tls = self.tls.model_copy(update={name: fix(getattr(self.tls, name)) or getattr(self.tls, name)
                                          for name in ("cert_file", "key_file", "ca_file")})
        db_url = self.db_url
        if db_url.startswith("sqlite:///") and db_url[len("sqlite:///"):] not in ("", ":memory:"):
            target = Path(db_url[len("sqlite:///"):])
            db_url = f"sqlite:///{target if target.is_absolute() else base / target}"
        elif "://" not in db_url and db_url not in ("", ":memory:") and not db_url.startswith("sqlite:"):
            db_url = str(fix(Path(db_url)) or db_url)
        update: dict[str, Any] = {"keys": keys, "tls": tls, "db_url": db_url}
        if self.q2t_socket is not None:
            update["q2t_socket"] = fix(self.q2t_socket) or self.q2t_socket
        if self.q2t_token_file is not None:
            update["q2t_token_file"] = fix(self.q2t_token_file) or self.q2t_token_file
        return self.model_copy(update=update)


def format_validation_error(error: ValidationError) -> str:
    """`field.path: message; …` — one entry per problem, never the input value."""
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(root)"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}")
    return "; ".join(parts)


def load_settings(path: Path | str | None = None, **overrides: Any) -> ManagerSettings:
    """Load `manager.toml` (optional), apply env overrides; raises ConfigError."""
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        base = path.resolve().parent
    token = _FILE_DATA.set(data)
    try:
        settings = ManagerSettings(**overrides)
    except ValidationError as exc:
        where = f" in {path}" if path is not None else ""
        raise ConfigError(f"invalid manager configuration{where}: {format_validation_error(exc)}") from None
    finally:
        _FILE_DATA.reset(token)
    return settings.resolve_paths(base)


__all__ = ["KeyConfig", "ManagerSettings", "TlsSettings", "format_validation_error", "is_loopback_host",
           "load_settings"]
