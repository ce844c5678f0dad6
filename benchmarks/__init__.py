"""batchwright's benchmarks: throughput against plain Playwright loops and Playwright
Test, ingestion, reports and memory. Run ``python -m benchmarks --help``."""
