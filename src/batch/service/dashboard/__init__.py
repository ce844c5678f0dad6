"""The dashboard at ``/``: server-rendered pages over the API (sign in with a key,
batches with live progress bars, a batch's rows and actions, starting a batch).

``router`` is included by ``batch.service.app.create_app``; the pages' script and
stylesheet are served from ``static/``, nothing comes from the internet.
"""

from batch.service.dashboard.pages import router

__all__ = ["router"]
