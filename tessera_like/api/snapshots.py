"""Q2T routes of development snapshots (tessera_like/snapshots.py): mounted only when the
manager's `dev_snapshots` is on, never on the P2P API. docs/manager-api.md, "Snapshots"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tessera_like.api.common import ERROR_RESPONSES, json_response
from tessera_like.snapshots import StoreSnapshots


def _snapshots(request: Request) -> StoreSnapshots:
    snapshots: StoreSnapshots = request.app.state.snapshots
    return snapshots


def build_snapshots_q2t_router() -> APIRouter:
    router = APIRouter(tags=["dev"])

    @router.post("/dev/snapshots", status_code=201, responses=ERROR_RESPONSES,
                 summary="Development: copy the whole store; answers {\"id\": ...}")
    async def take(request: Request) -> Response:
        snapshot_id = await run_in_threadpool(_snapshots(request).take)
        return json_response({"id": snapshot_id}, status_code=201)

    @router.post("/dev/snapshots/{snapshot_id}/restore", responses=ERROR_RESPONSES,
                 summary="Development: put a snapshot's content back into the store")
    async def restore(snapshot_id: str, request: Request) -> Response:
        await run_in_threadpool(_snapshots(request).restore, snapshot_id)
        return json_response({"id": snapshot_id, "restored": True})

    @router.delete("/dev/snapshots/{snapshot_id}", status_code=204, responses=ERROR_RESPONSES,
                   summary="Development: delete one snapshot")
    async def delete(snapshot_id: str, request: Request) -> Response:
        await run_in_threadpool(_snapshots(request).delete, snapshot_id)
        return Response(status_code=204)

    @router.delete("/dev/snapshots", responses=ERROR_RESPONSES, summary="Development: delete every snapshot")
    async def delete_all(request: Request) -> Response:
        deleted = await run_in_threadpool(_snapshots(request).delete_all)
        return json_response({"deleted": deleted})

    return router


__all__ = ["build_snapshots_q2t_router"]
