"""Alembic's environment for the manifest store: migrations run on the connection the
store opened, inside the transaction it holds (``batch/store/_schema.py``)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=False)
context.run_migrations()
