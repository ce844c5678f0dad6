"""Response models of the API route the dashboard adds (``GET /api/v1/flows``)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["FlowInfo", "FlowList"]


class FlowInfo(BaseModel):
    name: str
    """What ``flow_name`` takes when creating a batch: the file's name in ``flows_dir``."""


class FlowList(BaseModel):
    """The flows registered on the server; empty when ``flows_dir`` is not set."""

    flows: list[FlowInfo]
