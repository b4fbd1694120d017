"""Decode revert data into a readable reason (Error(string) and Panic(uint256))."""

from __future__ import annotations

from eth_abi import decode

ERROR_SELECTOR = bytes.fromhex("08c379a0")
PANIC_SELECTOR = bytes.fromhex("4e487b71")
PANIC_REASONS = {
    0x01: "assert(false)",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "enum overflow",
    0x22: "invalid encoded storage byte array",
    0x31: "out-of-bounds array access; popping on an empty array",
    0x32: "out-of-bounds access of an array or bytesN",
    0x41: "out of memory",
    0x51: "uninitialized function",
}


def decode_revert_reason(data: bytes) -> str | None:
    """The reason string geth would print after "execution reverted: ", or None."""
    if data[:4] == ERROR_SELECTOR:
        try:
            return str(decode(["string"], data[4:])[0])
        except Exception:
            return None
    if data[:4] == PANIC_SELECTOR and len(data) >= 36:
        code = int.from_bytes(data[4:36], "big")
        return f"panic: {PANIC_REASONS.get(code, 'unknown panic')} (0x{code:x})"
    return None
