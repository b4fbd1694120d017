"""Real servers on free loopback ports, for integration tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any, port: int | None = None, host: str = "127.0.0.1",
                    uds: str | None = None) -> Iterator[str]:
    """Run `app` on a uvicorn server in a thread; yield its base URL (`unix://PATH` when it
    listens on the unix socket `uds`); stop it on exit."""
    port = port or free_port()
    config = uvicorn.Config(app, host=host, port=port, uds=uds, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"unix://{uds}" if uds else f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
