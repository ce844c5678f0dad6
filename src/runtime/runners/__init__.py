"""The seam between the batch side and a runtime host: ``JobRunner.run(spec) -> outcome``."""
