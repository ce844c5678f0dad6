"""``GET /api/v1/flows``: the flows a batch may name instead of uploading one, for the
start page's list (and any other client).

Only the names are listed, each one the create route's own resolver accepts
(``creation.resolve_flow``): the files' contents and the folder's path stay on the server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from batch.service.creation import resolve_flow
from batch.service.dashboard.schemas import FlowInfo, FlowList
from batch.service.deps import Reader, State
from batch.service.problems import Problem, problem_responses
from batch.settings import BatchSettings

__all__ = ["registered_flows", "router"]

router = APIRouter(prefix="/api/v1", tags=["flows"])


def registered_flows(settings: BatchSettings) -> list[str]:
    """File names in ``flows_dir`` that ``flow_name`` resolves to themselves, sorted."""
    flows_dir = settings.flows_dir
    if flows_dir is None or not flows_dir.is_dir():
        return []
    names = []
    for path in sorted(flows_dir.iterdir()):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            found, _ = resolve_flow(settings, flow_name=path.name)
        except Problem:
            continue  # a name the create route would refuse (not a flow, odd characters)
        if Path(found) == path:
            names.append(path.name)
    return names


@router.get("/flows", response_model=FlowList, responses=problem_responses(401))
async def list_flows(_principal: Reader, state: State) -> FlowList:
    names = await run_in_threadpool(registered_flows, state.settings)
    return FlowList(flows=[FlowInfo(name=name) for name in names])
