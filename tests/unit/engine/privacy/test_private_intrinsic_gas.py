"""A private send whose gas cannot cover the public marker's intrinsic gas is refused at
submission with GoQuorum's wording, before the manager sees the payload."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.chain.marker import MARKER_CALL_MIN_GAS, MARKER_CREATE_MIN_GAS
from engine.errors import TransactionRejected

from .kit import RECORDER_INIT, word
from .test_service import wired  # noqa: F401  (the fixture)


@pytest.mark.parametrize(("to", "want"), [(None, MARKER_CREATE_MIN_GAS), (b"\x42" * 20, MARKER_CALL_MIN_GAS)],
                         ids=["deploy", "call"])
def test_gas_below_the_markers_intrinsic_gas_is_refused_at_submission(wired, to, want):  # noqa: F811
    data = RECORDER_INIT if to is None else word(1)
    request = replace(wired.private(data, to=to), gas=want - 1)
    with pytest.raises(TransactionRejected, match=f"^intrinsic gas too low: have {want - 1}, want {want}$") as info:
        wired.service.send_transaction(request)
    assert info.value.rpc_code == -32000
    assert wired.manager.payloads == {}
    assert wired.node.get_nonce(wired.sender, "pending") == 0


def test_enough_gas_for_the_marker_is_sent(wired):  # noqa: F811
    request = replace(wired.private(RECORDER_INIT), gas=MARKER_CREATE_MIN_GAS + 200_000)
    receipt = wired.receipt(wired.service.send_transaction(request))
    assert receipt.is_private and receipt.status == 1
