"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import ApiContext
from api.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process is up; says nothing of its dependencies."""
    return {"status": "ok"}


def _check_database(context: ApiContext) -> None:
    with context.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_broker(context: ApiContext) -> None:
    context.tasks.ping()


def _check_store(context: ApiContext) -> None:
    context.store.check()


CHECKS = {"database": _check_database, "broker": _check_broker, "store": _check_store}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "not ready"}})
async def readyz(context: ContextDep) -> JSONResponse:
    """Ready when the database, the broker and the object store all answer."""
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            await run_in_threadpool(check, context)
            results[name] = "ok"
        except Exception as e:  # a probe reports every failure, whatever its type
            results[name] = f"error: {type(e).__name__}: {e}"[:300]
    ready = all(v == "ok" for v in results.values())
    body = {"status": "ready" if ready else "not_ready", "checks": results}
    return JSONResponse(body, status_code=200 if ready else 503)
