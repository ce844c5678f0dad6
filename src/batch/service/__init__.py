"""``batchwright serve``: the HTTP API, its auth and the batch launcher (docs/service.md).

Kept free of imports so ``batch.settings`` can read the service's options
(``batch.service.settings``) without loading FastAPI; ``batch.service.app`` builds
the application.
"""

__all__: list[str] = []
