"""The manager's side of dev snapshots (tessera_like/snapshots.py, Q2T `/dev/snapshots`) on real
managers over loopback HTTP: what a snapshot restores, and who may not ask for one."""

from __future__ import annotations

import base64
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest

from tessera_like.api.app import create_q2t_app
from tessera_like.config import KeyConfig, ManagerSettings
from tessera_like.crypto.keyfile import write_key_files
from tessera_like.runtime import ManagerProcess
from tessera_like.snapshots import StoreSnapshots
from tests.unit.engine.test_snapshots import rows, start_manager

pytestmark = pytest.mark.integration


class Q2T:
    def __init__(self, process: ManagerProcess) -> None:
        self.process = process
        self.http = httpx.Client(base_url=process.q2t_url, timeout=30,
                                 headers={"Authorization": f"Bearer {process.q2t_token}"})

    def store_raw(self, payload: bytes) -> str:
        response = self.http.post("/storeraw", json={"payload": base64.b64encode(payload).decode()})
        assert response.status_code == 200, response.text
        return str(response.json()["key"])


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ManagerProcess]:
    process = start_manager(tmp_path / "manager")
    try:
        yield process
    finally:
        process.stop()


def database(process: ManagerProcess) -> Path:
    return Path(process.settings.db_url[len("sqlite:///"):])


def test_a_restore_puts_the_whole_store_back(manager: ManagerProcess) -> None:
    q2t = Q2T(manager)
    kept = q2t.store_raw(b"stored before the snapshot")
    before = rows(database(manager))
    taken = q2t.http.post("/dev/snapshots")
    assert taken.status_code == 201, taken.text
    snapshot_id = taken.json()["id"]
    copy = database(manager).with_name("manager.db.snapshots") / f"{snapshot_id}.sqlite"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700

    later = q2t.store_raw(b"stored after the snapshot")
    assert rows(database(manager)) != before
    restored = q2t.http.post(f"/dev/snapshots/{snapshot_id}/restore")
    assert restored.status_code == 200 and restored.json() == {"id": snapshot_id, "restored": True}
    assert rows(database(manager)) == before
    # The running manager serves the restored store (its connections need no reopening).
    for key, expected in ((kept, 200), (later, 404)):
        answer = q2t.http.get("/transaction/" + quote(key, safe=""), params={"isRaw": "true"})
        assert answer.status_code == expected, answer.text

    assert q2t.http.delete(f"/dev/snapshots/{snapshot_id}").status_code == 204
    assert not copy.exists()
    gone = q2t.http.post(f"/dev/snapshots/{snapshot_id}/restore")
    assert gone.status_code == 404 and gone.json() == {"error": f"no snapshot {snapshot_id}"}
    bad = q2t.http.post("/dev/snapshots/..%2F..%2Fmanager/restore")
    assert bad.status_code in (400, 404) and "error" in bad.json()
    assert q2t.http.post("/dev/snapshots/not-an-id/restore").json() == {
        "error": "invalid snapshot id: 32 lowercase hex digits expected"}
    q2t.http.post("/dev/snapshots")
    assert q2t.http.delete("/dev/snapshots").json() == {"deleted": 1}


def test_the_routes_need_the_token_the_setting_and_the_q2t_api(manager: ManagerProcess, tmp_path: Path) -> None:
    # Q2T over TCP: without the bearer token, refused like any other route.
    refused = httpx.post(f"{manager.q2t_url}/dev/snapshots", timeout=10)
    assert refused.status_code == 401
    # Never on the P2P API, whatever the setting.
    p2p = httpx.post(f"{manager.p2p_url}/dev/snapshots", timeout=10)
    assert p2p.status_code == 404 and p2p.json() == {"error": "Not Found"}
    assert not database(manager).with_name("manager.db.snapshots").exists()
    # Off unless enabled.
    off = start_manager(tmp_path / "off", dev_snapshots=False)
    try:
        answer = Q2T(off).http.post("/dev/snapshots")
        assert answer.status_code == 404 and answer.json() == {"error": "Not Found"}
        assert not database(off).with_name("manager.db.snapshots").exists()
    finally:
        off.stop()


def test_a_postgresql_store_cannot_be_snapshotted(tmp_path: Path) -> None:
    """The routes answer 400 with a JSON body (no database is reached to say so)."""
    pub, key = write_key_files(tmp_path, "own", None)
    settings = ManagerSettings(keys=[KeyConfig(public_key_file=pub, private_key_file=key)],
                               db_url=f"sqlite:///{tmp_path / 'manager.db'}")
    from tessera_like.runtime import build_manager

    parts = build_manager(settings)
    try:
        app = create_q2t_app(parts.manager, snapshots=StoreSnapshots("postgresql://privnet@db.example:5432/tm"))
        for method, path in (("POST", "/dev/snapshots"), ("POST", f"/dev/snapshots/{'a' * 32}/restore"),
                             ("DELETE", f"/dev/snapshots/{'a' * 32}"), ("DELETE", "/dev/snapshots")):

            async def ask(method: str = method, path: str = path) -> httpx.Response:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q2t") as c:
                    return await c.request(method, path)

            answer = anyio.run(ask)
            assert answer.status_code == 400 and answer.json() == {"error": "snapshots need the SQLite store"}
    finally:
        parts.store.close()
