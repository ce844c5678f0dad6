"""Where the tests find the repository's files, wherever a test module sits."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FLOWS = REPO / "tests" / "helpers" / "flows"
"""Flows (YAML, JSON, Python) written for the tests."""
