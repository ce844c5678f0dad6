"""``/api/v1/webhooks``: subscribe a URL to batch events, list and delete subscriptions,
and see every delivery attempt. Deliveries themselves are the watcher's (``live.py``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from batch.exceptions import BatchNotFoundError
from batch.notify.signing import check_webhook_url, new_secret
from batch.service.deps import Reader, Writer
from batch.service.live import webhook_store
from batch.service.problems import Problem, problem_responses
from batch.service.routes.webhooks_schemas import (
    DeliveryList,
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
)
from batch.store._webhooks import WebhookStore

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
Hooks = Annotated[WebhookStore, Depends(webhook_store)]


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 404, 422),
)
async def create(body: WebhookCreate, _principal: Writer, hooks: Hooks) -> WebhookCreated:
    """Subscribe; the response holds the signing secret, never shown again."""
    try:
        url = check_webhook_url(body.url)
    except ValueError as exc:
        raise Problem(422, detail=str(exc), field="url") from None
    secret = new_secret()
    try:
        hook = await asyncio.to_thread(
            hooks.add, url, body.events, secret, now=datetime.now(UTC), batch_id=body.batch_id
        )
    except BatchNotFoundError:
        raise Problem(404, detail=f"no batch {body.batch_id!r}", field="batch_id") from None
    return WebhookCreated(**WebhookOut.of(hook).model_dump(), secret=secret)


@router.get("", response_model=WebhookList, responses=problem_responses(401))
async def list_webhooks(_principal: Reader, hooks: Hooks) -> WebhookList:
    """Every subscription (the server-wide ones of the settings included), no secrets."""
    found = await asyncio.to_thread(hooks.subscriptions)
    return WebhookList(webhooks=[WebhookOut.of(hook) for hook in found])


@router.get("/deliveries", response_model=DeliveryList, responses=problem_responses(401))
async def deliveries(
    _principal: Reader,
    hooks: Hooks,
    batch_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryList:
    """Deliveries, newest first, each with its attempts (status code, error, duration,
    next retry)."""
    found = await asyncio.to_thread(hooks.deliveries, batch_id, limit)
    return DeliveryList(deliveries=[DeliveryOut.of(delivery) for delivery in found])


@router.delete("/{webhook_id}", status_code=204, responses=problem_responses(401, 403, 404))
async def delete(webhook_id: str, _principal: Writer, hooks: Hooks) -> Response:
    """Unsubscribe (its pending deliveries are dropped)."""
    if not await asyncio.to_thread(hooks.delete, webhook_id):
        raise Problem(404, detail=f"no webhook {webhook_id!r}", field="webhook_id")
    return Response(status_code=204)
