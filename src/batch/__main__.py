"""``python -m batch`` is the ``batchwright`` command."""

from batch.cli import main

main()
