"""The `web3_` namespace."""

from __future__ import annotations

from eth_utils import keccak

from engine.rpc import formatters as fmt
from engine.rpc import params as p
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Method, Param


def client_version(ctx: RpcContext) -> str:
    return ctx.client_version


def sha3(ctx: RpcContext, value: bytes) -> bytes:
    return keccak(value)


METHODS: dict[str, Method] = {
    "web3_clientVersion": Method(client_version, blocking=False),
    "web3_sha3": Method(sha3, (Param("data", p.data),), result=fmt.data, blocking=False),
}
