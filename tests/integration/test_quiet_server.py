"""The node's and the manager's uvicorn server (QuietServer): an exit request wakes it at once,
and a second one after it ended (a second SIGTERM during the process's cleanup) is harmless."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from engine.rpc.serving import QuietServer as NodeServer
from tessera_like.api.serving import QuietServer as ManagerServer
from tests.helpers.servers import free_port

pytestmark = pytest.mark.integration


async def hello(_request: object) -> PlainTextResponse:
    return PlainTextResponse("up")


@pytest.mark.parametrize("server_class", [NodeServer, ManagerServer], ids=["node", "manager"])
def test_a_second_exit_request_after_the_server_ended_is_harmless(server_class: type[uvicorn.Server]) -> None:
    port = free_port()
    server = server_class(uvicorn.Config(Starlette(routes=[Route("/", hello)]), host="127.0.0.1", port=port,
                                         log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "up"
    server.should_exit = True
    thread.join(timeout=20)
    assert not thread.is_alive()
    server.should_exit = True  # the loop is closed now: nothing to wake, nothing raised
    assert server.should_exit
