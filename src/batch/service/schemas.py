"""Response and request models of the skeleton's routes (health, session)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["CancelResult", "Health", "SessionInfo", "SignIn"]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="An API key.")


class SessionInfo(BaseModel):
    """Who is signed in; ``csrf_token`` goes in ``X-CSRF-Token`` on every change."""

    name: str
    scope: Literal["read", "write"]
    csrf_token: str | None = None
    """Only for a session (the cookie); a Bearer caller needs none."""


class CancelResult(BaseModel):
    """A cancel request: the running rows wind down, the batch stays resumable."""

    batch_id: str
    cancel_requested: bool = True
