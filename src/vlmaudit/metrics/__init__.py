"""Scoring: K-way selection with explicit tie policy, aggregation, bootstrap CIs."""
