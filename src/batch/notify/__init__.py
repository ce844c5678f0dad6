"""What the service tells clients about batches, read from the store so that it is the
same whether the server's engine or workers on other machines run the rows: live
progress events (``progress.py``, ``feed.py``) and signed webhooks (``signing.py``,
``webhooks.py``, ``delivery.py``, ``watcher.py``)."""
