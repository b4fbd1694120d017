"""A nesting-depth check run on a request body before any JSON parser sees it.

Why: py_ecc (imported by py-evm) raises Python's recursion limit to 100,000, and the stdlib
JSON decoder recurses in C up to that limit; a 97 KiB body of `[` nested 100,000 deep
overflows the thread's C stack and kills the process. geth caps nesting the same way.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 128

# A whole string (escapes included) is one token, so brackets inside strings are skipped;
# an unterminated string is not matched and its brackets count (over-counting is safe).
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` opens more than `max_depth` arrays/objects at once (outside strings)."""
    if body.count(b"[") + body.count(b"{") <= max_depth:  # the common case, at C speed
        return False
    depth = 0
    for match in _TOKENS.finditer(body):
        char = body[match.start()]
        if char in b"[{":
            depth += 1
            if depth > max_depth:
                return True
        elif char in b"]}":
            depth -= 1
    return False
