"""``GET /api/v1/health``: for load balancers and ``serve``'s own readiness wait; no auth."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from batch.service.schemas import Health

__all__ = ["router", "version_text"]

router = APIRouter(prefix="/api/v1", tags=["health"])


def version_text() -> str:
    try:
        return version("batchwright")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(version=version_text())
