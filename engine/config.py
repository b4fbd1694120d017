"""Typed node configuration: `node.toml` plus `PRIVNET_`-prefixed environment overrides.

Validated at load; a bad value fails at start-up with the field path in the message.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(Exception):
    """Raised when node.toml or the environment holds an invalid setting."""


class RpcSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key fails, as at the top level

    host: str = "127.0.0.1"
    port: int = Field(8545, ge=0, le=65535)
    max_body_bytes: int = Field(5 * 1024 * 1024, gt=0)
    max_batch_size: int = Field(1000, gt=0)
    # geth's --rpc.gascap and --rpc.evmtimeout: the most gas, and the longest EVM run, one
    # eth_call / eth_estimateGas / eth_createAccessList may take (0 = no limit).
    gas_cap: int = Field(50_000_000, ge=0)
    evm_timeout_s: float = Field(5.0, ge=0)


class PrivacySettings(BaseModel):
    """Where this node's private transaction manager answers (Q2T API)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    q2t_url: str | None = None  # http://127.0.0.1:9101 or unix:///path/to/tm.ipc
    # The manager's bearer token (its q2t_token_file), sent on every request; needed over TCP.
    q2t_token_file: Path | None = None
    retries: int = Field(5, ge=0)
    retry_delay_s: float = Field(1.0, ge=0)
    timeout_s: float = Field(10.0, gt=0)
    # GoQuorum's --privacymarker.enable: private sends go out as privacy marker transactions
    # (needs the genesis' privacyPrecompileBlock).
    privacy_marker: bool = False

    @field_validator("q2t_url")
    @classmethod
    def _q2t_url(cls, value: str | None) -> str | None:
        if value is not None:
            scheme, _, rest = value.partition("://")
            if scheme not in ("http", "https", "unix") or not rest.strip("/"):
                raise ValueError(f"{value!r} is not an http(s)://host:port or unix:///path URL")
        return value


class OrderingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "etcd"] = "local"
    # local: a SQLite file shared by every node on the machine (default: DATA_DIR/ordering.sqlite)
    path: Path | None = None
    # etcd: client URLs of the cluster's members (http://host:port), tried in turn
    etcd_endpoints: list[str] = Field(default_factory=list, validate_default=True)
    poll_interval_ms: int = Field(5, gt=0)
    # etcd: the producer's lease; another node takes over about this long after the producer stops
    lease_ttl_s: int = Field(2, ge=1, le=60)
    # etcd: how long a request may wait for a quorum before OrderingUnavailable
    request_timeout_s: float = Field(3.0, gt=0, le=60)

    @field_validator("etcd_endpoints")
    @classmethod
    def _endpoint_urls(cls, value: list[str], info: Any) -> list[str]:
        if info.data.get("kind") == "etcd" and not value:
            raise ValueError("at least one client URL is required when kind is 'etcd'")
        for url in value:
            scheme, _, rest = url.partition("://")
            if scheme not in ("http", "https") or not rest.strip("/"):
                raise ValueError(f"{url!r} is not an http(s)://host:port client URL")
        return value


class DevSettings(BaseModel):
    """Development-network features; never on a production node."""

    model_config = ConfigDict(extra="forbid")

    # evm_snapshot / evm_revert (engine/dev/snapshots.py): needs `local` ordering and, with a
    # manager, its `dev_snapshots`. `privnet up --ordering local` turns it on.
    snapshots: bool = False


class NodeSettings(BaseSettings):
    """Settings of one node. `data_dir` holds the chain database and, by default, the genesis."""

    model_config = SettingsConfigDict(env_prefix="PRIVNET_", env_nested_delimiter="__", extra="forbid")

    name: str = "node"
    data_dir: Path = Path(".privnet/node")
    chain_id: int = Field(1337, gt=0)
    genesis_file: Path | None = None  # JSON written by `privnet up`; None = built-in dev genesis
    dev_accounts: int = Field(10, ge=0)  # built-in dev genesis: how many funded, unlocked accounts
    dev_account_seed: str = "privnet"
    unlocked_keys_file: Path | None = None  # JSON list of 0x private keys unlocked on this node
    block_gas_limit: int = Field(100_000_000, ge=5000)
    # Longest an idle node sleeps before it looks at the ordering service again: new blocks and
    # submissions wake it at once (inotify / etcd watch); this bounds how soon a dead producer's
    # role is taken over.
    max_block_time_ms: int = Field(1000, gt=0)
    # Under load, blocks come at most this often so transactions batch up (each block has a fixed
    # cost on every node); an idle node still builds the first transaction's block at once.
    # 50 ms is GoQuorum Raft's block time: at 25 ms a producer that is not the sending node built
    # blocks of 3-4 transactions under sustained load, and every node paid the per-block cost
    # 18 times a second (bench --sustained: 27 ms of network CPU per transaction, a growing queue).
    min_block_interval_ms: int = Field(50, ge=0)
    # The producer builds at most this many blocks ahead of the slowest node that keeps up, and
    # waits at most producer_pacing_wait_ms per block for it (engine/chain/pacing.py): blocks
    # grow with the load instead of a short-of-CPU node falling behind. 0 = no pacing.
    producer_max_lead_blocks: int = Field(2, ge=0)
    producer_pacing_wait_ms: int = Field(500, ge=0)
    # The producer builds an empty block when no block was made for this long (QBFT's block
    # period; 0 = only on demand). Costs one block per interval on every node: docs/operations.md.
    empty_block_interval_s: float = Field(0, ge=0)
    max_txs_per_block: int = Field(500, gt=0)
    txpool_max_size: int = Field(20_000, gt=0)
    txpool_max_gap: int = Field(64, ge=0)
    max_tx_bytes: int = Field(128 * 1024, gt=0)
    rpc: RpcSettings = Field(default_factory=RpcSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    ordering: OrderingSettings = Field(default_factory=OrderingSettings)
    dev: DevSettings = Field(default_factory=DevSettings)
    log_level: str = "INFO"

    @field_validator("chain_id")
    @classmethod
    def _not_mainnet_private_clash(cls, value: int) -> int:
        # v = 37/38 marks a private transaction; with chain id 1 it would read as EIP-155.
        if value == 1:
            raise ValueError("chain id 1 is reserved: private transactions use v=37/38 (GoQuorum rule)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides the file; the file's values arrive as init kwargs.
        return (env_settings, init_settings)

    @field_validator("min_block_interval_ms")
    @classmethod
    def _interval_within_block_time(cls, value: int, info: Any) -> int:
        limit = info.data.get("max_block_time_ms")
        if limit is not None and value > limit:
            raise ValueError(f"must not exceed max_block_time_ms ({limit})")
        return value

    @field_validator("dev")
    @classmethod
    def _snapshots_need_local_ordering(cls, value: DevSettings, info: Any) -> DevSettings:
        ordering = info.data.get("ordering")
        if value.snapshots and ordering is not None and ordering.kind != "local":
            raise ValueError("snapshots need ordering.kind 'local' (a revert truncates the shared block log)")
        return value

    def ordering_path(self) -> Path:
        return self.ordering.path or (self.data_dir / "ordering.sqlite")


def load_settings(path: Path | None = None, **overrides: Any) -> NodeSettings:
    """Read node.toml (relative paths resolve against its folder), apply env, validate."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        base = path.resolve().parent
        for key in ("data_dir", "genesis_file", "unlocked_keys_file"):
            if key in values and not Path(values[key]).is_absolute():
                values[key] = str(base / values[key])
        for table, key in (("ordering", "path"), ("privacy", "q2t_token_file")):
            section = values.get(table, {})
            if isinstance(section, dict) and key in section and not Path(section[key]).is_absolute():
                section[key] = str(base / section[key])
    values.update(overrides)
    try:
        return NodeSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid node settings: {problems}") from None
