"""The write side of ``/api/v1/batches``: cancel (create, resume, retry, review follow)."""

from __future__ import annotations

from fastapi import APIRouter

from batch.exceptions import BatchNotFoundError
from batch.service.deps import State, Writer
from batch.service.problems import Problem, problem_responses
from batch.service.schemas import CancelResult

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])


@router.post(
    "/{batch_id}/cancel",
    status_code=202,
    response_model=CancelResult,
    responses=problem_responses(401, 403, 404),
)
async def cancel(batch_id: str, _principal: Writer, state: State) -> CancelResult:
    """Ask whoever runs the batch (this server, a worker, a CLI) to stop; resumable."""
    try:
        state.store.request_cancel(batch_id)
    except BatchNotFoundError:
        raise Problem(404, detail=f"no batch {batch_id!r}", field="batch_id") from None
    return CancelResult(batch_id=batch_id)
