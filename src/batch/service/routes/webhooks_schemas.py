"""Request and response models of ``/api/v1/webhooks``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from batch.store._webhooks import Delivery, Webhook

__all__ = [
    "AttemptOut",
    "DeliveryList",
    "DeliveryOut",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookList",
    "WebhookOut",
]

WebhookEvent = Literal["finished", "failed", "needs_review"]


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2000, description="http:// or https:// URL.")
    events: list[WebhookEvent] = Field(
        default=["finished", "failed", "needs_review"], min_length=1, max_length=3
    )
    batch_id: str | None = Field(
        None, max_length=200, description="This batch only; omitted: every batch from now on."
    )


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    events: list[str]
    batch_id: str | None
    origin: Literal["api", "settings"]
    created_at: datetime

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls(
            webhook_id=hook.webhook_id,
            url=hook.url,
            events=list(hook.events),
            batch_id=hook.batch_id,
            origin="settings" if hook.origin == "settings" else "api",
            created_at=hook.created_at,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (X-Batchwright-Signature). Shown this once only."
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_s: float
    status_code: int | None
    error: str
    next_attempt_at: datetime | None


class DeliveryOut(BaseModel):
    delivery_id: str
    webhook_id: str
    batch_id: str
    event: str
    state: Literal["pending", "delivered", "failed"]
    next_attempt_at: datetime | None
    created_at: datetime
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            delivery_id=delivery.delivery_id,
            webhook_id=delivery.webhook_id,
            batch_id=delivery.batch_id,
            event=delivery.event,
            state=delivery.state,  # type: ignore[arg-type]  # the store's check constraint
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            attempts=[
                AttemptOut(
                    number=a.number,
                    started_at=a.started_at,
                    duration_s=a.duration_s,
                    status_code=a.status_code,
                    error=a.error,
                    next_attempt_at=a.next_attempt_at,
                )
                for a in delivery.attempts
            ],
        )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
