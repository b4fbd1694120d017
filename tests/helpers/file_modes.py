"""File modes in tests: what a path's permission bits are, and a umask for the duration of a test.

Owner-only files must not depend on the process umask, so the tests that check modes run
under a permissive one (0o022, or 0 that grants everything)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    """The permission bits of `path` (0o600 for an owner-only file)."""
    return stat.S_IMODE(path.stat().st_mode)
