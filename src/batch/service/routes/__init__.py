"""The API's routers, one module each; ``batch.service.app`` includes them."""

__all__: list[str] = []
