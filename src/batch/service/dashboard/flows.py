"""``GET /api/v1/flows``: the flows a batch may name instead of uploading one, for the
start page's list (and any other client).

Only the names are listed: the files' contents and the folder's path stay on the server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from batch.service.dashboard.schemas import FlowInfo, FlowList
from batch.service.deps import Reader, State
from batch.service.problems import problem_responses

__all__ = ["FLOW_SUFFIXES", "registered_flows", "router"]

router = APIRouter(prefix="/api/v1", tags=["flows"])

FLOW_SUFFIXES = frozenset({".yaml", ".yml", ".json", ".py"})
"""What ``flow_name`` resolves to in ``flows_dir`` (a Python flow too: whoever runs the
server put it there; an uploaded flow must be declarative)."""


def registered_flows(flows_dir: Path | None) -> list[str]:
    """File names of the flows directly in ``flows_dir``, sorted; none without one."""
    if flows_dir is None or not flows_dir.is_dir():
        return []
    return sorted(
        path.name
        for path in flows_dir.iterdir()
        if path.suffix.lower() in FLOW_SUFFIXES and path.is_file() and not path.is_symlink()
    )


@router.get("/flows", response_model=FlowList, responses=problem_responses(401))
def list_flows(_principal: Reader, state: State) -> FlowList:
    names = registered_flows(state.settings.flows_dir)
    return FlowList(flows=[FlowInfo(name=name) for name in names])
