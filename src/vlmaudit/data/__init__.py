"""Data sources: generated scenes and readers for standard benchmark formats."""
