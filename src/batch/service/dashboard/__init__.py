"""The dashboard at ``/``: server-rendered pages over the API (sign in with a key,
batches with live progress bars, a batch's rows and actions, starting a batch, groups
and their batches, schedules with pause / resume / remove).

``router`` (the pages, and ``GET /api/v1/flows`` for the start page) is included by
``batch.service.app.create_app``; the pages' script and stylesheet are served from
``static/``, nothing comes from the internet.
"""

from fastapi import APIRouter

from batch.service.dashboard import flows, pages

__all__ = ["router"]

router = APIRouter()
router.include_router(pages.router)
router.include_router(flows.router)
