"""Flows: the model, loading and validation, templating, steps, locators, Python flows."""
