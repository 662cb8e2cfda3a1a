"""Readers for standard annotation formats; each module exposes `open_source(spec)` for the registry."""
