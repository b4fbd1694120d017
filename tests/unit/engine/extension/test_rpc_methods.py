"""The `quorumExtension_` namespace at the RPC edge: GoQuorum's parameter shapes, and a node
without a manager (no extension service) answers "method not found" as GoQuorum does."""

from __future__ import annotations

from typing import Any

from engine.abc import ContractExtensionAPI
from engine.rpc.app import method_table
from engine.rpc.context import RpcContext
from engine.rpc.dispatch import Dispatcher
from engine.rpc.filters import FilterRegistry
from engine.types import Address, Hash32, PtmPublicKey, TxRequest
from tests.unit.engine.rpc.fakes import FakeNode

MGMT = "0x" + "ab" * 20


class RecordingExtension(ContractExtensionAPI):
    """Records what the RPC edge handed over (the real service runs in tests/e2e/test_extension.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def extend_contract(self, to_extend: Address, recipient_key: PtmPublicKey, recipient: Address,
                        request: TxRequest) -> Hash32:
        self.calls.append(("extend", to_extend, recipient_key, recipient, request.sender, request.private))
        return Hash32(b"\x01" * 32)

    def approve_extension(self, management_contract: Address, vote: bool, request: TxRequest) -> Hash32:
        self.calls.append(("approve", management_contract, vote, request.sender))
        return Hash32(b"\x02" * 32)

    def cancel_extension(self, management_contract: Address, request: TxRequest) -> Hash32:
        self.calls.append(("cancel", management_contract, request.sender))
        return Hash32(b"\x03" * 32)

    def extension_status(self, management_contract: Address) -> str:
        return "ACTIVE"

    def active_extensions(self) -> list[dict[str, object]]:
        return []


def _rpc(extension: ContractExtensionAPI | None) -> Any:
    node = FakeNode()
    context = RpcContext(node=node, filters=FilterRegistry(node), client_version="t", privacy=node,
                         extension=extension)
    dispatcher = Dispatcher(method_table(node), context)
    return lambda method, *params: dispatcher.handle({"jsonrpc": "2.0", "id": 1, "method": method,
                                                      "params": list(params)})


def test_a_node_without_a_manager_does_not_serve_the_namespace() -> None:
    answer = _rpc(None)("quorumExtension_activeExtensionContracts")
    assert answer["error"] == {"code": -32601, "message":
                               "the method quorumExtension_activeExtensionContracts does not exist/is not available"}


def test_parameters_reach_the_service_in_goquorums_shapes() -> None:
    service = RecordingExtension()
    rpc = _rpc(service)
    sender = "0x" + "11" * 20
    key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    assert rpc("quorumExtension_extendContract", MGMT, key, sender, {"from": sender})["result"] == "0x" + "01" * 32
    assert rpc("quorumExtension_approveExtension", MGMT, True, {"from": sender, "privateFor": [key]})["result"] == (
        "0x" + "02" * 32)
    assert rpc("quorumExtension_cancelExtension", MGMT, {"from": sender, "privateFor": [key]})["result"] == (
        "0x" + "03" * 32)
    assert rpc("quorumExtension_getExtensionStatus", MGMT)["result"] == "ACTIVE"
    assert [c[0] for c in service.calls] == ["extend", "approve", "cancel"]
    assert service.calls[1][2] is True


def test_bad_parameters_are_invalid_params() -> None:
    rpc = _rpc(RecordingExtension())
    assert rpc("quorumExtension_approveExtension", MGMT, "yes", {"from": MGMT})["error"]["code"] == -32602
    assert rpc("quorumExtension_extendContract", MGMT, "k", MGMT, {})["error"]["code"] == -32602  # no from
    assert rpc("quorumExtension_getExtensionStatus", "0x12")["error"]["code"] == -32602
