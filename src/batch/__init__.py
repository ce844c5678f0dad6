"""batchwright's batch domain: CSV in, manifest, jobs, engine, reports, CLI."""
