"""From a CSV file to a stored batch: security checks, CSV reading, creation, preview."""
