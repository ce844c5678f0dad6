"""batchwright's execution machinery: settings, browser, flows, executors.

Never imports ``batch``: it takes a ``JobSpec`` and returns an ``AttemptOutcome``.
"""
