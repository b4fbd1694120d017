"""The node's side of its manager's snapshot routes (Q2T `/dev/snapshots`, docs/manager-api.md).

A separate small client rather than a method on the privacy client: snapshots are a
development feature, and their requests (a whole-store copy) take longer than a payload's.
"""

from __future__ import annotations

from typing import Any

import httpx

from engine.errors import PrivacyManagerError, PrivacyManagerUnavailable

MSG_NOT_ENABLED = ("the private transaction manager does not take snapshots: set dev_snapshots = true "
                   "in its configuration")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)


class ManagerSnapshots:
    """`take` / `restore` / `delete` a snapshot of the manager's store, over its Q2T API."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 120.0) -> None:
        socket_path = url[len("unix://"):] if url.startswith("unix://") else None
        base_url = "http://tessera" if socket_path is not None else url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.url = url
        self._http = httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(uds=socket_path),
                                  timeout=timeout_s, headers=headers)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str) -> httpx.Response:
        try:
            response = self._http.request(method, path)
        except httpx.HTTPError as exc:
            raise PrivacyManagerUnavailable(f"private transaction manager at {self.url} unavailable: "
                                            f"{type(exc).__name__}: {exc}") from None
        if response.status_code == 404 and _detail(response) == "Not Found":  # no such route: not mounted
            raise PrivacyManagerError(MSG_NOT_ENABLED)
        return response

    def _fail(self, what: str, response: httpx.Response) -> PrivacyManagerError:
        return PrivacyManagerError(f"private transaction manager could not {what}: "
                                   f"{response.status_code} status: {_detail(response)}")

    def take(self) -> str:
        """A snapshot of the manager's whole store (payloads, raw payloads, commitments); its id."""
        response = self._request("POST", "/dev/snapshots")
        if response.status_code != 201:
            raise self._fail("take a snapshot", response)
        body: Any = response.json()
        return str(body["id"])

    def restore(self, snapshot_id: str) -> None:
        response = self._request("POST", f"/dev/snapshots/{snapshot_id}/restore")
        if response.status_code != 200:
            raise self._fail(f"restore snapshot {snapshot_id}", response)

    def delete(self, snapshot_id: str) -> None:
        """Forget a snapshot (one already gone is fine)."""
        response = self._request("DELETE", f"/dev/snapshots/{snapshot_id}")
        if response.status_code not in (204, 404):
            raise self._fail(f"delete snapshot {snapshot_id}", response)

    def delete_all(self) -> None:
        response = self._request("DELETE", "/dev/snapshots")
        if response.status_code != 200:
            raise self._fail("delete its snapshots", response)
