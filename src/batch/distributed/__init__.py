"""Running batches on Celery workers around a shared store (docs/distributed.md)."""
