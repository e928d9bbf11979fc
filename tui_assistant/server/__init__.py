"""A local Assistants-compatible HTTP server; the entry points are in ``runtime``."""
