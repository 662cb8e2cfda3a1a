"""Metrics: K-way selection with explicit tie policy, grouped units, aggregation, bootstrap CIs, and
the kit that turns per-item outcomes into a reported Metric."""
